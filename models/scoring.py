"""Scoring shared by every engine that runs the encoder (eager torch, ONNX Runtime).

The worker bands a ticket from these probabilities and this novelty verdict, so the two runtimes
must compute them the same way from (logits, embedding); only the forward pass differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from models.base import FloatArray, Scores, no_novelty
from models.calibration import softmax

if TYPE_CHECKING:
    from models.heads import Layout
    from models.novelty import NoveltyDetector


class EncoderScoring:
    """``predict_proba`` and ``score`` from a class's ``encode`` and ``forward_ids``.

    ``forward_ids`` gives the one output layer's logits, every head's side by side; ``layout``
    says which columns are the primary head's and which each extra head's."""

    temperature: float
    novelty: NoveltyDetector | None
    layout: Layout

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def forward_ids(self, ids: Sequence[Sequence[int]]) -> tuple[FloatArray, FloatArray]:
        """Logits and novelty embeddings, rows in the order of ``ids``."""
        raise NotImplementedError

    def forward_texts(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        return self.forward_ids(self.encode(list(texts)))

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        logits, _ = self.forward_texts(texts)
        return softmax(self.layout.primary(logits), self.temperature)

    def score(self, texts: Sequence[str]) -> Scores:
        logits, embeddings = self.forward_texts(texts)
        proba = softmax(self.layout.primary(logits), self.temperature)
        heads = self.layout.scores(logits)
        novelty = self.novelty
        if novelty is None:
            return replace(no_novelty(proba), heads=heads)
        values = novelty.score(embeddings)
        return Scores(proba=proba, novelty=values, novel=novelty.is_novel(values), heads=heads)

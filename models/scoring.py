"""Scoring shared by every engine that runs the encoder (eager torch, ONNX Runtime).

The worker bands a ticket from these probabilities and this novelty verdict, so the two runtimes
must compute them the same way from (logits, embedding); only the forward pass differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from models.base import FloatArray, Scores, no_novelty
from models.calibration import softmax

if TYPE_CHECKING:
    from models.novelty import NoveltyDetector


class EncoderScoring:
    """``predict_proba`` and ``score`` from a class's ``encode`` and ``forward_ids``."""

    temperature: float
    novelty: NoveltyDetector | None

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def forward_ids(self, ids: Sequence[Sequence[int]]) -> tuple[FloatArray, FloatArray]:
        """Logits and novelty embeddings, rows in the order of ``ids``."""
        raise NotImplementedError

    def forward_texts(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        return self.forward_ids(self.encode(list(texts)))

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        logits, _ = self.forward_texts(texts)
        return softmax(logits, self.temperature)

    def score(self, texts: Sequence[str]) -> Scores:
        logits, embeddings = self.forward_texts(texts)
        proba = softmax(logits, self.temperature)
        novelty = self.novelty
        if novelty is None:
            return no_novelty(proba)
        values = novelty.score(embeddings)
        return Scores(proba=proba, novelty=values, novel=novelty.is_novel(values))

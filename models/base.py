"""What every model backend offers the rest of the system.

The worker, the CLI and the learner only ever see a :class:`Classifier`: they never import torch,
peft or scikit-learn themselves. A backend (TF-IDF, LoRA transformer, ONNX, ...) is a class that
satisfies this protocol and registers its ``kind`` in :mod:`models.artifact`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class HeadScores:
    """An extra head's probabilities (a child under the primary head, a task head, a multi-label
    head)."""

    labels: list[str]
    #: (n, len(labels)): rows sum to 1, except a multi-label head's (one probability per label)
    proba: FloatArray
    #: the head it sits under (a hierarchy's child: the primary head), None for a task head
    parent: str | None = None
    #: a multi-label head's per-label decision thresholds; None for a single-label head
    thresholds: FloatArray | None = None

    @property
    def multilabel(self) -> bool:
        return self.thresholds is not None

    def chosen(self, row: int) -> list[str]:
        """A multi-label head's labels for row ``row``: those at or over their threshold, most
        probable first."""
        if self.thresholds is None:
            return [self.labels[int(np.argmax(self.proba[row]))]]
        order = np.argsort(-self.proba[row], kind="stable")
        return [self.labels[j] for j in order if self.proba[row, j] >= self.thresholds[j]]


@dataclass(frozen=True)
class Scores:
    """A batch's outputs: calibrated probabilities and how unlike the training data each text is.

    ``novelty`` is a score (higher = less like training); ``novel`` is that score past the
    threshold calibrated on validation data. A backend without a novelty detector returns zeros
    and ``False``.
    """

    proba: FloatArray  # (n, k), rows sum to 1, columns in ``Classifier.labels`` order
    novelty: FloatArray  # (n,)
    novel: BoolArray  # (n,)
    #: the heads beyond the primary one, by name (empty for a single-head model)
    heads: Mapping[str, HeadScores] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.proba.shape[0]
        if self.novelty.shape != (n,) or self.novel.shape != (n,):
            raise ValueError(
                f"Scores shapes disagree: proba {self.proba.shape}, novelty {self.novelty.shape},"
                f" novel {self.novel.shape}"
            )


@runtime_checkable
class Classifier(Protocol):
    @property
    def version(self) -> str:
        """Unique, immutable id of this trained model (goes into every decision)."""
        ...

    @property
    def labels(self) -> list[str]:
        """Class names, in the column order of ``predict_proba``."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """Calibrated class probabilities, shape (len(texts), len(labels))."""
        ...

    def score(self, texts: Sequence[str]) -> Scores:
        """Probabilities and novelty in one pass (the worker's call)."""
        ...

    def save(self, path: Path) -> Path:
        """Write the model as an artifact directory readable by :func:`models.artifact.load`."""
        ...


def no_novelty(proba: FloatArray) -> Scores:
    n = proba.shape[0]
    return Scores(proba=proba, novelty=np.zeros(n), novel=np.zeros(n, dtype=bool))

"""Extra heads on the one encoder: task heads (urgency, sentiment) and a multi-label head (tags).

One linear layer gives every head's logits side by side: the primary head's columns first, then
each extra head's slice, in manifest order (:class:`Layout`). So the encoder runs once per
ticket whatever the number of heads, and the ONNX fast path, which exports that one layer,
returns every head without knowing they exist. Training sums the heads' losses, each weighted
(``TrainConfig.head_weights``, 1 by default); a row whose label for a head is unknown adds
nothing to that head's loss.

Each head is calibrated on its own: a temperature per task head, as the primary head has; for
a multi-label head a temperature per label and a decision threshold per label, both fitted on
validation (a rare tag's best cut is rarely 0.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from models.artifact import Head
from models.base import BoolArray, FloatArray, HeadScores
from models.calibration import LOG_T_BOUNDS, fit_temperature, softmax
from models.data import HeadValue, LabelledData
from models.exceptions import DataError

__all__ = ["HeadSpec", "Layout", "best_threshold", "head_metrics", "sigmoid"]

#: candidate per-label thresholds of a multi-label head (validation F1 picks one)
THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))
    return out


@dataclass
class HeadSpec:
    """One extra head: its labels, where its logits sit, its loss weight and calibration."""

    name: str
    labels: list[str]
    multilabel: bool = False
    weight: float = 1.0
    offset: int = 0
    temperature: float = 1.0
    #: a multi-label head's per-label temperature and decision threshold (validation-fitted)
    label_temperatures: list[float] = field(default_factory=list)
    label_thresholds: list[float] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.labels)

    def logits(self, full: FloatArray) -> FloatArray:
        out: FloatArray = np.asarray(full)[:, self.offset : self.offset + self.width]
        return out

    def proba(self, full: FloatArray) -> FloatArray:
        """Calibrated probabilities: rows sum to 1 for a task head; one independent probability
        per label for a multi-label head."""
        logits = self.logits(full)
        if not self.multilabel:
            return softmax(logits, self.temperature)
        temps = np.asarray(self.label_temperatures or [1.0] * self.width)
        return sigmoid(logits / temps)

    def scores(self, full: FloatArray) -> HeadScores:
        thresholds = np.asarray(self.label_thresholds or [0.5] * self.width)
        return HeadScores(
            labels=list(self.labels),
            proba=self.proba(full),
            thresholds=thresholds if self.multilabel else None,
        )

    def targets(self, values: Sequence[HeadValue]) -> FloatArray:
        """Training targets: a class index per row (-1: unknown) for a task head; a 0/1 row
        per ticket (NaN: unknown) for a multi-label head."""
        index = {label: i for i, label in enumerate(self.labels)}
        if not self.multilabel:
            return np.array([index.get(v[0], -1) if v else -1 for v in values], dtype=np.float64)
        out = np.zeros((len(values), self.width))
        for row, value in enumerate(values):
            if value is None:
                out[row] = np.nan
            for label in value or ():
                if label in index:
                    out[row, index[label]] = 1.0
        return out

    def known(self, target: FloatArray) -> BoolArray:
        """The rows of :meth:`targets` output whose label for this head was given."""
        if self.multilabel:
            return np.asarray(~np.isnan(target).any(axis=1), dtype=bool)
        return np.asarray(target >= 0, dtype=bool)

    def calibrate(self, full: FloatArray, values: Sequence[HeadValue]) -> None:
        """Fit this head's temperature(s), and a multi-label head's thresholds, on validation."""
        target = self.targets(values)
        known = self.known(target)
        logits, target = self.logits(full)[known], target[known]
        if not self.multilabel:
            if known.sum():
                self.temperature = fit_temperature(logits, target.astype(np.int64))
            return
        self.label_temperatures = [
            _label_temperature(logits[:, j], target[:, j]) for j in range(self.width)
        ]
        proba = sigmoid(logits / np.asarray(self.label_temperatures))
        self.label_thresholds = [
            best_threshold(proba[:, j], target[:, j]) for j in range(self.width)
        ]

    def to_head(self) -> Head:
        extra: dict[str, Any] = {"offset": self.offset, "weight": self.weight}
        if self.multilabel:
            extra.update(
                label_temperatures=self.label_temperatures, label_thresholds=self.label_thresholds
            )
        return Head(
            type="multilabel" if self.multilabel else "multiclass",
            labels=list(self.labels),
            temperature=self.temperature,
            **extra,
        )

    @classmethod
    def from_head(cls, name: str, head: Head) -> HeadSpec:
        extra = head.model_extra or {}
        return cls(
            name=name,
            labels=list(head.labels),
            multilabel=head.type == "multilabel",
            weight=float(extra.get("weight", 1.0)),
            offset=int(extra["offset"]),
            temperature=head.temperature,
            label_temperatures=[float(t) for t in extra.get("label_temperatures", [])],
            label_thresholds=[float(t) for t in extra.get("label_thresholds", [])],
        )


def _label_temperature(logits: FloatArray, target: FloatArray) -> float:
    """The temperature minimising one label's validation log loss (1.0 without both kinds)."""
    if target.min(initial=1.0) == target.max(initial=0.0):
        return 1.0

    def loss(log_t: float) -> float:
        p = np.clip(sigmoid(logits / np.exp(log_t)), 1e-12, 1 - 1e-12)
        return float(-np.mean(target * np.log(p) + (1 - target) * np.log(1 - p)))

    result = minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def best_threshold(proba: FloatArray, target: FloatArray) -> float:
    """The grid threshold with the best validation F1 for one label (0.5 with no positives)."""
    positives = target.sum()
    if positives == 0:
        return 0.5
    best, best_f1 = 0.5, -1.0
    for t in THRESHOLD_GRID:
        picked = proba >= t
        tp = float((picked & (target == 1)).sum())
        f1 = 2 * tp / (picked.sum() + positives)
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best


@dataclass
class Layout:
    """Where each head's logits sit in the one output layer (the primary head's come first)."""

    primary_width: int
    extra: list[HeadSpec] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.primary_width + sum(spec.width for spec in self.extra)

    @classmethod
    def of(cls, primary: Sequence[str], data: LabelledData, weights: Mapping[str, float]) -> Layout:
        """The layout for training on ``data``: one head per entry of ``data.heads``, its
        labels the ones the training rows carry."""
        unknown = sorted(set(weights) - set(data.heads) - {"label"})
        if unknown:
            raise DataError(
                f"head weights name {unknown}, which the data has no column for; heads: "
                f"{sorted(data.heads) or 'none'}"
            )
        offset, extra = len(primary), []
        for name, head in data.heads.items():
            labels = head.classes
            if len(labels) < 2 and not head.multilabel:
                raise DataError(
                    f"head {name!r} has {len(labels)} label(s) in the training rows ({labels}): a "
                    "task head needs at least 2; check the column"
                )
            if not labels:
                raise DataError(f"multi-label head {name!r} has no label in the training rows")
            spec = HeadSpec(name, labels, head.multilabel, float(weights.get(name, 1.0)), offset)
            extra.append(spec)
            offset += spec.width
        return cls(len(primary), extra)

    @classmethod
    def from_heads(cls, heads: Mapping[str, Head], primary: str) -> Layout:
        """A manifest's layout (an old single-head manifest: no extra heads)."""
        extra = [
            HeadSpec.from_head(name, head)
            for name, head in heads.items()
            if name != primary and "offset" in (head.model_extra or {})
        ]
        return cls(len(heads[primary].labels), sorted(extra, key=lambda spec: spec.offset))

    def columns(self, primary: Sequence[str]) -> list[str]:
        """Every output column's name: the primary labels, then ``head:label``."""
        return list(primary) + [f"{h.name}:{x}" for h in self.extra for x in h.labels]

    def primary(self, full: FloatArray) -> FloatArray:
        out: FloatArray = np.asarray(full)[:, : self.primary_width]
        return out

    def scores(self, full: FloatArray) -> dict[str, HeadScores]:
        return {spec.name: spec.scores(full) for spec in self.extra}


def head_metrics(head: HeadScores, values: Sequence[HeadValue]) -> dict[str, float]:
    """How one extra head did on rows whose labels are known: accuracy and macro-F1 for a task
    head; exact match, Hamming loss, micro- and macro-F1 for a multi-label head."""
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    rows = [i for i, v in enumerate(values) if v is not None]
    if not rows:
        return {"rows": 0}
    index = {label: j for j, label in enumerate(head.labels)}
    proba = head.proba[rows]
    if head.thresholds is None:
        truth = [values[i][0] for i in rows]  # type: ignore[index]
        picked = [head.labels[j] for j in proba.argmax(axis=1)]
        return {
            "rows": len(rows),
            "accuracy": float(accuracy_score(truth, picked)),
            "macro_f1": float(f1_score(truth, picked, average="macro", zero_division=0)),
        }
    truth_hot = np.zeros_like(proba, dtype=bool)
    for n, i in enumerate(rows):
        for label in values[i] or ():
            if label in index:
                truth_hot[n, index[label]] = True
    picked_hot = proba >= head.thresholds
    return {
        "rows": len(rows),
        "exact_match": float((truth_hot == picked_hot).all(axis=1).mean()),
        "hamming_loss": float(hamming_loss(truth_hot, picked_hot)),
        "micro_f1": float(f1_score(truth_hot, picked_hot, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(truth_hot, picked_hot, average="macro", zero_division=0)),
    }

"""Paired bootstrap: is one model worse than another on the same rows, or is the gap noise?

Two models scored on the same tickets make errors on mostly the same hard ones, so the
difference of their metrics varies far less than either metric does. Resampling rows (the
same resample for both models) gives an interval for the difference that a gate can trust:
on a corrections holdout of ~100 rows one ticket moves macro-F1 by about 0.01, and comparing
two point estimates there rejected candidates that were better on 3,000 gold rows (issue 17).

Macro-F1 here is the one :mod:`models.evaluate` reports: the mean F1 over the classes that
occur in the true labels, F1 = 0 where a class is neither predicted nor present. A multi-label
head's answers are label sets (tuples): each label is a class, so macro-F1 is the mean of the
labels' F1, and ``accuracy`` is the exact-match share (which, for one label per row, is the
accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: one row's answer: a label, or a multi-label head's set
Answer = str | tuple[str, ...]

#: resamples drawn per chunk: bounds memory at chunk x rows weights (500 x 3,080 x 8 B = 12 MB)
_CHUNK = 500


@dataclass(frozen=True)
class Difference:
    """``first - second`` on one metric: its value on all rows and its bootstrap interval."""

    metric: str
    first: float
    second: float
    rows: int
    low: float
    high: float
    confidence: float

    @property
    def estimate(self) -> float:
        return self.first - self.second

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "candidate": round(self.first, 4),
            "deployed": round(self.second, 4),
            "rows": self.rows,
            "difference": round(self.estimate, 4),
            "interval": [round(self.low, 4), round(self.high, 4)],
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class PairedSample:
    """Metric differences over bootstrap resamples of one set's rows.

    Metric names: ``accuracy``, ``macro_f1`` and ``f1[<class>]`` for each class present.
    """

    rows: int
    support: dict[str, int]
    first: dict[str, float]
    second: dict[str, float]
    resampled: dict[str, FloatArray]

    def difference(self, metric: str, confidence: float) -> Difference:
        """The percentile interval holding ``confidence`` of the resampled differences."""
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence={confidence} is invalid: use a share in (0, 1)")
        if metric not in self.resampled:
            raise KeyError(f"no metric {metric!r}: have {sorted(self.resampled)}")
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(self.resampled[metric], [tail, 1.0 - tail])
        return Difference(
            metric=metric,
            first=self.first[metric],
            second=self.second[metric],
            rows=self.rows if metric in ("accuracy", "macro_f1") else self.support[_cls(metric)],
            low=float(low),
            high=float(high),
            confidence=confidence,
        )


def class_metric(label: str) -> str:
    return f"f1[{label}]"


def _cls(metric: str) -> str:
    return metric[3:-1]


def paired_bootstrap(
    labels: Sequence[Answer],
    first: Sequence[Answer],
    second: Sequence[Answer],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedSample:
    """Resample rows ``resamples`` times and score both predictions on each resample.

    Seeded: the same rows and predictions give the same interval every run, so a gate's
    verdict can be reproduced from its inputs.
    """
    n = len(labels)
    if n == 0:
        raise ValueError("cannot compare models on 0 rows")
    if len(first) != n or len(second) != n:
        raise ValueError(f"{n} labels but {len(first)} and {len(second)} predictions")
    if resamples < 100:
        raise ValueError(f"resamples={resamples} is too few for an interval: use >= 100")
    # every label either side names, so an extra predicted label breaks an exact match; F1s
    # are reported for the labels the truth holds (``classes``)
    seen = {label for values in (labels, first, second) for v in values for label in _labels_of(v)}
    columns = sorted(seen)
    classes = sorted({label for value in labels for label in _labels_of(value)})
    present = np.array([c in set(classes) for c in columns])
    truth = _onehot(labels, columns)
    ones = np.ones((1, n))
    sides = [_onehot(first, columns), _onehot(second, columns)]
    point = [_metrics(ones, truth, side, present) for side in sides]
    rng = np.random.default_rng(seed)
    chunks: list[FloatArray] = []
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        chunks.append(
            _metrics(weights, truth, sides[0], present)
            - _metrics(weights, truth, sides[1], present)
        )
    diffs = np.concatenate(chunks, axis=0)
    names = ["accuracy", "macro_f1"] + [class_metric(c) for c in classes]
    return PairedSample(
        rows=n,
        support={c: int(v) for c, v in zip(classes, truth[:, present].sum(axis=0), strict=True)},
        first={name: float(point[0][0, i]) for i, name in enumerate(names)},
        second={name: float(point[1][0, i]) for i, name in enumerate(names)},
        resampled={name: diffs[:, i] for i, name in enumerate(names)},
    )


def _labels_of(value: Answer) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _onehot(values: Sequence[Answer], classes: list[str]) -> FloatArray:
    """Rows x classes indicator (several ones for a label set)."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(values), len(classes)))
    for row, value in enumerate(values):
        for label in _labels_of(value):
            if label in index:
                out[row, index[label]] = 1.0
    return out


def _metrics(
    weights: FloatArray, truth: FloatArray, predicted: FloatArray, present: npt.NDArray[np.bool_]
) -> FloatArray:
    """Per resample (row of ``weights``): accuracy (exact match), macro-F1 and each F1 over
    the ``present`` columns (the labels the truth holds)."""
    hits = weights @ (truth * predicted)
    denominator = weights @ predicted + weights @ truth
    f1 = np.divide(2.0 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)
    exact = np.all(truth == predicted, axis=1).astype(np.float64)
    accuracy = (weights @ exact) / weights.sum(axis=1)
    return np.column_stack([accuracy, f1[:, present].mean(axis=1), f1[:, present]])

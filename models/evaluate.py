"""Held-out evaluation: the numbers that decide whether a model may route tickets.

Macro-F1 is the headline (rare teams matter as much as big ones); the band table says what share
of tickets each band would get and how often the routed band is right, which is what the 0.85
threshold promises. Every evaluation carries a TF-IDF baseline scored on the same rows: a
transformer that does not beat it is not worth its CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from models.bands import Thresholds, resolve_thresholds
from models.base import Classifier, FloatArray
from models.calibration import expected_calibration_error, softmax
from models.clusters import FailureCluster, embedder, failure_clusters
from models.data import HeadLabels
from models.exceptions import DataError
from models.gates import EvalPack, GateReport, check
from models.heads import head_metrics

BANDS = ("routed", "shadow", "manual")


@dataclass
class Evaluation:
    """Metrics as plain data (``to_dict`` is the `triage evaluate --json` output)."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    ece: float
    ece_uncalibrated: float | None
    bands: dict[str, dict[str, float | None]]
    confusion: dict[str, Any]
    gates: GateReport
    baseline: dict[str, float] | None
    rows: int
    novel_share: float
    unknown_labels: list[str] = field(default_factory=list)
    #: the predicted label of each row, in the input's order: what a paired comparison of two
    #: models on the same rows needs (kept out of ``to_dict``: it grows with the rows)
    predicted: list[str] = field(default_factory=list)
    #: the misclassified rows grouped into failure modes, largest first (models/clusters.py)
    failure_clusters: list[FailureCluster] = field(default_factory=list)
    #: each extra head's figures on the rows whose label for it is known (models.heads)
    heads: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "ece": self.ece,
            "ece_uncalibrated": self.ece_uncalibrated,
            "bands": self.bands,
            "confusion_matrix": self.confusion,
            "gates": self.gates.to_dict(),
            "gates_passed": self.gates.passed,
            "baseline": self.baseline,
            "rows": self.rows,
            "novel_share": self.novel_share,
            "unknown_labels": self.unknown_labels,
            "failure_clusters": [c.to_dict() for c in self.failure_clusters],
            "heads": self.heads,
        }

    def metrics_for_manifest(self) -> dict[str, Any]:
        """Everything but the confusion matrix (it lives in report/, and grows with k^2) and the
        failure clusters (ticket text belongs in the report a person opens, not the manifest)."""
        out = self.to_dict()
        for key in ("confusion_matrix", "gates", "gates_passed", "failure_clusters"):
            out.pop(key)
        return out

    def render(self) -> str:
        lines = [f"evaluated on {self.rows} rows"]
        base = self.baseline or {}
        lines.append(f"{'':14}{'model':>9}{'tf-idf':>9}")
        for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            other = f"{base[key]:9.4f}" if key in base else f"{'-':>9}"
            lines.append(f"{name:14}{getattr(self, key):9.4f}{other}")
        before = (
            f" (before calibration {self.ece_uncalibrated:.4f})" if self.ece_uncalibrated else ""
        )
        lines.append(f"ECE {self.ece:.4f}{before}; novel share {self.novel_share:.3f}")
        lines.append(
            "bands: "
            + ", ".join(
                f"{band} {v['share']:.3f}"
                + (f" (precision {v['precision']:.3f})" if v["precision"] is not None else "")
                for band, v in self.bands.items()
            )
        )
        width = max([len(label) for label in self.per_class] + [5])
        lines.append(f"{'class':{width}} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>6}")
        for label, m in self.per_class.items():
            lines.append(
                f"{label:{width}} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}"
                f" {int(m['support']):6d}"
            )
        lines.append("gates:\n" + self.gates.render())
        if self.unknown_labels:
            lines.append(f"labels the model does not know (always wrong): {self.unknown_labels}")
        lines.extend(_render_clusters(self.failure_clusters))
        return "\n".join(lines)


def _render_clusters(clusters: Sequence[FailureCluster]) -> list[str]:
    if not clusters:
        return []
    lines = [f"failure clusters (largest {len(clusters)}):"]
    for c in clusters:
        mix = ", ".join(f"{t}->{p} {n}" for t, p, n in c.mix[:3])
        lines.append(f"  #{c.id} size {c.size}: {mix}")
        lines.append(f"      e.g. {c.representative[:100]!r}")
    return lines


def band_table(
    confidence: FloatArray,
    correct: np.ndarray[Any, Any],
    novel: np.ndarray[Any, Any],
    thresholds: Thresholds,
) -> dict[str, dict[str, float | None]]:
    """Share of tickets per band and the accuracy (precision) of the predicted label in it."""
    bands = np.array(
        [thresholds.band(float(c), novel=bool(v)) for c, v in zip(confidence, novel, strict=True)]
    )
    n = max(len(bands), 1)
    table: dict[str, dict[str, float | None]] = {}
    for band in BANDS:
        mask = bands == band
        count = int(mask.sum())
        table[band] = {
            "share": count / n,
            "precision": float(correct[mask].mean()) if count else None,
        }
    return table


def evaluate(
    classifier: Classifier,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    pack: EvalPack,
    baseline: Classifier | None = None,
    thresholds: Thresholds | None = None,
    max_clusters: int = 10,
    heads: Mapping[str, HeadLabels] | None = None,
) -> Evaluation:
    """Score ``classifier`` (and ``baseline``, if given) on the same labelled rows.

    ``max_clusters`` failure clusters are kept (0: none, and no second pass over the failures).
    ``heads``: the rows' labels for extra heads, scored where the model has that head.
    """
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise DataError("cannot evaluate on 0 rows; pass a file with labelled rows")
    if thresholds is None:
        thresholds = resolve_thresholds(classifier)
    model_labels = classifier.labels
    index = {label: i for i, label in enumerate(model_labels)}
    scores = classifier.score(texts)
    proba = scores.proba
    predicted = [model_labels[i] for i in proba.argmax(axis=1)]
    targets = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    correct = proba.argmax(axis=1) == targets
    confidence = proba.max(axis=1)

    all_labels = list(model_labels) + sorted(set(labels) - set(model_labels))
    per_class, macro_f1 = _per_class(labels, predicted, all_labels)
    accuracy = float(correct.mean())
    matrix = confusion_matrix(list(labels), predicted, labels=all_labels)
    metrics = {"accuracy": accuracy, "macro_f1": macro_f1, "per_class": per_class}
    return Evaluation(
        accuracy=accuracy,
        macro_f1=macro_f1,
        per_class=per_class,
        ece=expected_calibration_error(proba, targets),
        ece_uncalibrated=_ece_uncalibrated(classifier, proba, targets),
        bands=band_table(confidence, correct, scores.novel, thresholds),
        confusion={"labels": all_labels, "matrix": matrix.tolist()},
        gates=check(metrics, pack),
        baseline=_baseline_metrics(baseline, texts, labels, all_labels),
        rows=len(texts),
        novel_share=float(np.mean(scores.novel)),
        unknown_labels=sorted(set(labels) - set(model_labels)),
        predicted=predicted,
        failure_clusters=failure_clusters(
            texts, labels, predicted, embedder(classifier), max_clusters=max_clusters
        ),
        heads={
            name: head_metrics(scores.heads[name], given.values)
            for name, given in (heads or {}).items()
            if name in scores.heads
        },
    )


def label_metrics(labels: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Rows, accuracy, macro-F1 and per-class figures of one head's answers (the figures the
    gates read), for a head whose answers come from somewhere other than :func:`evaluate`."""
    if not labels:
        return {"rows": 0, "accuracy": 0.0, "macro_f1": 0.0, "per_class": {}}
    all_labels = sorted({*labels, *predicted})
    per_class, macro = _per_class(labels, list(predicted), all_labels)
    accuracy = sum(a == b for a, b in zip(labels, predicted, strict=True)) / len(labels)
    return {"rows": len(labels), "accuracy": accuracy, "macro_f1": macro, "per_class": per_class}


def set_metrics(
    truth: Sequence[tuple[str, ...]], predicted: Sequence[tuple[str, ...]]
) -> dict[str, Any]:
    """:func:`label_metrics` of a multi-label head: each label is a class (its precision,
    recall, F1 and support over the rows), macro-F1 is the mean over the labels the truth
    holds, and ``accuracy`` is the exact-match share, so the gates read a set head's figures
    as they read any other's."""
    if not truth:
        return {"rows": 0, "accuracy": 0.0, "macro_f1": 0.0, "per_class": {}}
    labels = sorted({x for row in (*truth, *predicted) for x in row})
    index = {label: j for j, label in enumerate(labels)}
    hot = np.zeros((2, len(truth), len(labels)), dtype=np.int64)
    for side, rows in enumerate((truth, predicted)):
        for i, row in enumerate(rows):
            hot[side, i, [index[x] for x in row]] = 1
    figures = precision_recall_fscore_support(hot[0], hot[1], zero_division=0)
    per_class, f1, support = _class_figures(labels, figures), figures[2], figures[3]
    present = [j for j in range(len(labels)) if support[j] > 0]
    exact = float(np.mean([set(a) == set(b) for a, b in zip(truth, predicted, strict=True)]))
    macro = float(np.mean(f1[present])) if present else 0.0
    return {"rows": len(truth), "accuracy": exact, "macro_f1": macro, "per_class": per_class}


def _per_class(
    labels: Sequence[str], predicted: list[str], all_labels: list[str]
) -> tuple[dict[str, dict[str, float]], float]:
    """Per-class figures, and their macro-F1 over the classes that occur in ``labels``."""
    figures = precision_recall_fscore_support(
        list(labels), predicted, labels=all_labels, zero_division=0
    )
    f1, support = figures[2], figures[3]
    present = [i for i, label in enumerate(all_labels) if support[i] > 0]
    macro = float(np.mean(f1[present])) if present else 0.0
    return _class_figures(all_labels, figures), macro


def _class_figures(labels: Sequence[str], figures: Any) -> dict[str, dict[str, float]]:
    """scikit-learn's (precision, recall, f1, support) arrays as one dict per class."""
    precision, recall, f1, support = figures
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def _ece_uncalibrated(
    classifier: Classifier, proba: FloatArray, targets: np.ndarray[Any, Any]
) -> float | None:
    """The ECE the model would have without its temperature (None when it has none)."""
    temperature = float(getattr(classifier, "temperature", 1.0))
    if temperature == 1.0:
        return None
    # softmax(T * log p) undoes the temperature: the model's own, uncalibrated confidence.
    raw = softmax(np.log(np.clip(proba, 1e-300, None)) * temperature)
    return expected_calibration_error(raw, targets)


def _baseline_metrics(
    baseline: Classifier | None, texts: Sequence[str], labels: Sequence[str], all_labels: list[str]
) -> dict[str, float] | None:
    if baseline is None:
        return None
    base_pred = np.array(baseline.labels)[baseline.predict_proba(texts).argmax(axis=1)]
    _, _, base_f1, base_support = precision_recall_fscore_support(
        list(labels), base_pred.tolist(), labels=all_labels, zero_division=0
    )
    base_present = base_support > 0
    return {
        "accuracy": float(np.mean(base_pred == np.array(labels))),
        "macro_f1": float(np.mean(base_f1[base_present])),
    }


def macro_f1(classifier: Any, labels: Sequence[str], proba: FloatArray) -> float:
    """Macro-F1 of ``classifier``'s top label, given its probabilities ``proba`` on the rows
    whose true labels are ``labels`` (the caller scored them: it often needs them again)."""
    predicted = [classifier.labels[i] for i in proba.argmax(axis=1)]
    return float(f1_score(labels, predicted, average="macro", zero_division=0))

"""The reference a served model's traffic is compared with: what it predicted on held-out rows.

A worker cannot tell that traffic drifted from the decisions alone; it needs to know what the
model's outputs looked like on data like its training data. This is measured once, at training
time, on the validation split (the test split when the backend trains without one), and
recorded in the manifest under ``drift_reference``. The worker's sliding window
(:mod:`stream.drift`) compares the same three things with it: the share of each predicted
label, the novelty rate and the top-1 confidence (its mean, and its histogram on the recorded
bin edges, so both sides bin alike).

The recorded keys are the contract between the two; a manifest written before this existed has
no ``drift_reference``, and its drift is then unknown, not an error.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from models.base import Classifier
from models.data import LabelledData
from models.train_config import Split

#: manifest key
KEY = "drift_reference"
#: top-1 confidence histogram: bins at the reference's quintiles, so none is empty on the
#: reference side (equal-width bins left the low ones empty on 140 rows, and a window's few
#: tickets there read as a 0.2 shift); five, not ten, keeps the index's noise down
CONFIDENCE_BINS = 5


def confidence_edges(confidence: np.ndarray) -> list[float]:
    """Quantile edges over [0, 1]; ties (a model that is always sure) merge their bins."""
    inner = np.quantile(confidence, np.linspace(0, 1, CONFIDENCE_BINS + 1)[1:-1])
    return [0.0, *sorted({float(x) for x in inner} - {0.0, 1.0}), 1.0]


def reference_part(parts: Split) -> tuple[str, LabelledData] | None:
    """Validation when there is one (the test split is the gates' and stays unseen by choice);
    a backend trained without validation (TF-IDF) has only the test split to offer."""
    for name, part in (("validation", parts.val), ("test", parts.test)):
        if len(part):
            return name, part
    return None


def drift_reference(classifier: Classifier, parts: Split) -> dict[str, Any] | None:
    """The model's outputs on the reference part, as plain data for the manifest."""
    chosen = reference_part(parts)
    if chosen is None:
        return None
    name, part = chosen
    scores = classifier.score(part.texts)
    labels = classifier.labels
    top = scores.proba.argmax(axis=1)
    confidence = scores.proba.max(axis=1)
    counts = Counter(labels[i] for i in top)
    rows = len(part)
    edges = confidence_edges(confidence)
    histogram, _ = np.histogram(confidence, bins=np.asarray(edges))
    return {
        "split": name,
        "rows": rows,
        # every label of the model, 0.0 included: a class that appears only in traffic is drift
        "label_shares": {label: counts[label] / rows for label in labels},
        "novelty_rate": float(np.mean(scores.novel)),
        "mean_confidence": float(np.mean(confidence)),
        "confidence_edges": edges,
        "confidence_shares": [float(n) / rows for n in histogram],
    }

"""Failure clusters: the misclassified test tickets grouped by what they are about.

A confusion matrix says *which* classes are mixed up; it does not say *why*. Tickets a model gets
wrong for the same reason (one product both teams handle, one phrase that means two things) sit
close together in the space the model itself reads, so clustering the failures there turns a
few hundred wrong rows into a handful of failure modes, each with one ticket a person can read.

The space is the model's own where it has one: an encoder's novelty embedding (what its head
reads), a TF-IDF model's own vectors. Sparse TF-IDF rows are reduced with TruncatedSVD first, so
that two tickets sharing a phrase but not every word still come out close.

Clustering is agglomerative, average linkage on cosine distance, cut at a distance threshold.
Why not k-means with k chosen by silhouette: the number of failure modes is what we want to
learn, not something to pass in; silhouette is undefined for one cluster (a single failure mode
is a common, important answer) and for fewer than three rows; k-means assumes round clusters of
similar size while failure modes are one big confusable pair beside a tail of one-offs, which
the threshold keeps as small clusters instead of forcing them into the big one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.base import Classifier, FloatArray
from models.exceptions import DataError, ModelError
from models.redact import redact

#: Embeds texts as rows of a matrix, in the order given.
Embed = Callable[[Sequence[str]], Any]

#: Average cosine distance at which two groups of failures stop being one failure mode.
DISTANCE_THRESHOLD = 0.5
#: Most failures clustered (a deterministic sample past it): linkage memory grows with n^2.
MAX_ROWS = 2000
#: Longest representative text kept in a report (a person reads it; the rest is in the data).
MAX_TEXT = 300
SVD_COMPONENTS = 64
#: Where training writes a model's evaluation report (``TrainResult.save``), inside its folder.
REPORT_METRICS = Path("report") / "metrics.json"
_REWRITE = "rewrite it with `triage evaluate {0} TEST_FILE --report-dir {0}/report`"


@dataclass(frozen=True)
class FailureCluster:
    """One failure mode: its members' true -> predicted mix and the ticket nearest its centre."""

    id: int
    size: int
    mix: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    representative: str  # redacted, truncated to MAX_TEXT
    representative_true: str
    representative_predicted: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "mix": [{"true": t, "predicted": p, "count": n} for t, p, n in self.mix],
            "representative": {
                "text": self.representative,
                "true": self.representative_true,
                "predicted": self.representative_predicted,
            },
        }


def failure_clusters(
    texts: Sequence[str],
    true: Sequence[str],
    predicted: Sequence[str],
    embed: Embed | None,
    *,
    max_clusters: int = 10,
    seed: int = 0,
    distance_threshold: float = DISTANCE_THRESHOLD,
) -> list[FailureCluster]:
    """The largest ``max_clusters`` clusters of rows where ``true != predicted``, largest first.

    ``embed`` maps texts to vectors (dense or sparse); None fits a TF-IDF on the failures
    themselves, for a backend that exposes no space of its own. No failures: an empty list.
    Past ``MAX_ROWS`` failures a ``seed``-ed sample is clustered (sizes then count the sample);
    ``seed`` also fixes the SVD, so one evaluation always reports the same clusters.
    """
    if not len(texts) == len(true) == len(predicted):
        raise DataError(
            f"{len(texts)} texts, {len(true)} labels and {len(predicted)} predictions disagree:"
            " pass one label and one prediction per text"
        )
    rows = [i for i, (t, p) in enumerate(zip(true, predicted, strict=True)) if t != p]
    if not rows or max_clusters < 1:
        return []
    if len(rows) > MAX_ROWS:
        rows = sorted(np.random.default_rng(seed).choice(rows, MAX_ROWS, replace=False).tolist())
    failures = [texts[i] for i in rows]
    vectors = unit_rows(_reduce((embed or _own_tfidf)(failures), seed))
    assignment = cluster_vectors(vectors, distance_threshold)
    groups = sorted(
        (np.flatnonzero(assignment == c) for c in np.unique(assignment)),
        key=lambda members: (-len(members), int(members[0])),
    )
    out = []
    for number, members in enumerate(groups[:max_clusters]):
        centre = vectors[members].mean(axis=0)
        nearest = int(members[int(np.argmax(vectors[members] @ centre))])
        mix = Counter((true[rows[m]], predicted[rows[m]]) for m in members)
        out.append(
            FailureCluster(
                id=number,
                size=len(members),
                mix=[(t, p, n) for (t, p), n in sorted(mix.items(), key=lambda kv: -kv[1])],
                representative=redact(failures[nearest]).text[:MAX_TEXT],
                representative_true=true[rows[nearest]],
                representative_predicted=predicted[rows[nearest]],
            )
        )
    return out


def read_failure_clusters(model_dir: Path) -> list[dict[str, Any]]:
    """The failure clusters in a model's training report, as ``FailureCluster.to_dict`` rows.

    A model trained before clusters existed (no such key) or saved without a report has none:
    an empty list, so an old model still shows on the dashboard.
    """
    path = model_dir / REPORT_METRICS
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{path} is not readable JSON ({exc}); {_REWRITE.format(model_dir)}"
        ) from exc
    clusters = data.get("failure_clusters", []) if isinstance(data, dict) else None
    if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
        raise ModelError(
            f"{path}: failure_clusters is not a list of clusters; {_REWRITE.format(model_dir)}"
        )
    return clusters


def cluster_vectors(vectors: FloatArray, distance_threshold: float) -> np.ndarray[Any, Any]:
    """A cluster number per row (unit rows): average-linkage cosine cut at the threshold."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=distance_threshold,
    )
    return np.asarray(model.fit_predict(vectors), dtype=np.int64)


def embedder(classifier: Classifier) -> Embed | None:
    """The classifier's own space: an encoder's embedding, a TF-IDF model's vectors, or None."""
    forward = getattr(classifier, "forward_texts", None)
    if callable(forward):
        return lambda texts: forward(texts)[1]
    features = getattr(classifier, "features", None)
    if callable(features):
        return features  # type: ignore[no-any-return]
    return None


def unit_rows(vectors: FloatArray) -> FloatArray:
    """Rows scaled to length 1, cosine-ready. An all-zero row (a ticket with no word the model
    knows) gets its own extra axis: orthogonal to every ticket with words, identical to other
    empty ones, so such tickets form their own cluster instead of breaking the metric."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    empty = norms == 0
    if empty.any():
        vectors = np.hstack([vectors, empty[:, None].astype(np.float64)])
        norms = np.where(empty, 1.0, norms)
    out: FloatArray = vectors / norms[:, None]
    return out


def _reduce(matrix: Any, seed: int) -> FloatArray:
    """Sparse vectors to a dense SVD space (a ticket sharing a phrase lands near); dense as is."""
    if not hasattr(matrix, "tocsr"):
        return np.asarray(matrix, dtype=np.float64)
    components = min(SVD_COMPONENTS, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if components < 1:
        return np.asarray(matrix.toarray(), dtype=np.float64)
    from sklearn.decomposition import TruncatedSVD

    reduced = TruncatedSVD(n_components=components, random_state=seed).fit_transform(matrix)
    return np.asarray(reduced, dtype=np.float64)


def _own_tfidf(texts: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        return TfidfVectorizer(sublinear_tf=True).fit_transform(list(texts))
    except ValueError:  # no word in any failure (symbols only): one cluster of "no words"
        return np.zeros((len(texts), 1))

"""Out-of-distribution score: is this ticket like anything the model was trained on?

Softmax confidence is high on tickets from a product the model never saw, so confidence alone
would auto-route them. Two detectors score the embedding the classifier already computed (no
second model):

- :class:`KnnNovelty` (the default): cosine distance to the nearest training ticket (Sun et al.
  2022). On banking77 with team ``fx`` withheld it sent 79 % of fx tickets outside ``routed`` at a
  1.6-point cost to the other teams' routed share, against 70 % / 2.6 points for Mahalanobis;
- :class:`MahalanobisNovelty`: distance to the nearest class centroid under one shared covariance
  (Lee et al. 2018); compact (no stored embeddings) but blunter on near-domain novelties.

The threshold is a high percentile of the scores of held-out in-distribution tickets, so the share
of normal tickets sent to manual by novelty is known in advance (1 - quantile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from models.base import BoolArray, FloatArray
from models.exceptions import ArtifactError, ModelError
from models.runtime import one_blas_thread

METHOD = "mahalanobis"
KNN_METHOD = "knn"
DEFAULT_QUANTILE = 0.95


class _Thresholded:
    """What both detectors share: a threshold set from in-distribution scores, the novel/not-novel
    call against it, and the manifest entry that records both."""

    threshold: float
    quantile: float

    def score(self, embeddings: FloatArray) -> FloatArray:
        raise NotImplementedError

    def calibrate(self, embeddings: FloatArray, quantile: float = DEFAULT_QUANTILE) -> Self:
        """Set the threshold to the ``quantile`` of in-distribution (validation) scores."""
        self.threshold, self.quantile = _threshold(self.score(embeddings), quantile), quantile
        return self

    def is_novel(self, scores: FloatArray) -> BoolArray:
        out: BoolArray = np.asarray(scores > self.threshold, dtype=np.bool_)
        return out

    def _entry(self, method: str, folder: Path) -> dict[str, Any]:
        return {
            "method": method,
            "path": folder.name,
            "threshold": self.threshold,
            "quantile": self.quantile,
        }


@dataclass
class MahalanobisNovelty(_Thresholded):
    """Centroids (k, d) and the shared precision matrix (d, d) of training embeddings."""

    centroids: FloatArray
    precision: FloatArray
    threshold: float = float("inf")
    quantile: float = DEFAULT_QUANTILE

    @classmethod
    def fit(cls, embeddings: FloatArray, targets: np.ndarray[Any, Any]) -> MahalanobisNovelty:
        """Shrunk covariance (Ledoit-Wolf): a tiny training set has fewer rows than dimensions."""
        from sklearn.covariance import LedoitWolf  # here: `triage --help` needs the module, not it

        embeddings = np.asarray(embeddings, dtype=np.float64)
        targets = np.asarray(targets)
        if embeddings.ndim != 2 or embeddings.shape[0] != targets.shape[0]:
            raise ModelError(
                f"embeddings {embeddings.shape} and targets {targets.shape} disagree: "
                "need (n, d) and (n,)"
            )
        classes = np.unique(targets)
        centroids = np.stack([embeddings[targets == c].mean(axis=0) for c in classes])
        index = {c: i for i, c in enumerate(classes)}
        residuals = embeddings - centroids[[index[t] for t in targets]]
        covariance = LedoitWolf(assume_centered=True).fit(residuals).covariance_
        precision = np.linalg.pinv(covariance, hermitian=True)
        return cls(centroids=centroids, precision=precision)

    def score(self, embeddings: FloatArray) -> FloatArray:
        """Squared distance to the nearest centroid; higher = less like training."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        diff = embeddings[:, None, :] - self.centroids[None, :, :]  # (n, k, d)
        dist = np.einsum("nkd,de,nke->nk", diff, self.precision, diff)
        out: FloatArray = dist.min(axis=1)
        return out

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: Path) -> dict[str, Any]:
        """Write ``.npy`` arrays (never pickles); return the manifest's ``novelty`` entry."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "centroids.npy", self.centroids)
        np.save(folder / "precision.npy", self.precision)
        return self._entry(METHOD, folder)

    @classmethod
    def load(cls, folder: Path, entry: dict[str, Any]) -> MahalanobisNovelty:
        if entry.get("method") != METHOD:
            raise ArtifactError(
                f"novelty method {entry.get('method')!r} is unknown; this code reads {METHOD!r}"
            )
        try:
            centroids = np.load(folder / "centroids.npy", allow_pickle=False)
            precision = np.load(folder / "precision.npy", allow_pickle=False)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{folder} is incomplete: {exc.filename} is missing") from exc
        return cls(
            centroids=centroids,
            precision=precision,
            threshold=float(entry["threshold"]),
            quantile=float(entry.get("quantile", DEFAULT_QUANTILE)),
        )


@dataclass
class KnnNovelty(_Thresholded):
    """Unit-normalised training embeddings (float32); score = 1 - cosine to the nearest one."""

    bank: npt.NDArray[np.float32]
    threshold: float = float("inf")
    quantile: float = DEFAULT_QUANTILE

    @classmethod
    def fit(cls, embeddings: FloatArray, targets: np.ndarray[Any, Any] | None = None) -> KnnNovelty:
        """``targets`` is accepted for a uniform ``fit`` but unused: nearness ignores labels."""
        del targets
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ModelError(f"embeddings {embeddings.shape} are invalid: need (n > 0, d)")
        return cls(bank=_unit(embeddings).astype(np.float32))

    def score(self, embeddings: FloatArray) -> FloatArray:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if len(embeddings) == 0:
            return np.zeros(0)
        with one_blas_thread():
            similarity = _unit(embeddings).astype(np.float32) @ self.bank.T
        out: FloatArray = 1.0 - similarity.max(axis=1).astype(np.float64)
        return out

    def save(self, folder: Path) -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "bank.npy", self.bank)
        return self._entry(KNN_METHOD, folder)

    @classmethod
    def load(cls, folder: Path, entry: dict[str, Any]) -> KnnNovelty:
        try:
            bank = np.load(folder / "bank.npy", allow_pickle=False)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{folder} is incomplete: {exc.filename} is missing") from exc
        return cls(
            bank=bank,
            threshold=float(entry["threshold"]),
            quantile=float(entry.get("quantile", DEFAULT_QUANTILE)),
        )


NoveltyDetector = KnnNovelty | MahalanobisNovelty


def load_detector(folder: Path, entry: dict[str, Any]) -> NoveltyDetector:
    """The detector a manifest's ``novelty`` entry names."""
    method = entry.get("method")
    if method == KNN_METHOD:
        return KnnNovelty.load(folder, entry)
    if method == METHOD:
        return MahalanobisNovelty.load(folder, entry)
    raise ArtifactError(
        f"novelty method {method!r} is unknown; this code reads {KNN_METHOD!r} and {METHOD!r}"
    )


def _unit(x: FloatArray) -> FloatArray:
    out: FloatArray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def _threshold(scores: FloatArray, quantile: float) -> float:
    if not 0.5 <= quantile < 1.0:
        raise ModelError(f"novelty quantile {quantile} is invalid: use 0.5 <= q < 1 (0.95)")
    if len(scores) == 0:
        raise ModelError("cannot calibrate novelty on 0 validation rows; give a --val file")
    return float(np.quantile(scores, quantile))

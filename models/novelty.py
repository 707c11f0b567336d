"""Out-of-distribution score: is this ticket like anything the model was trained on?

Softmax confidence is high on tickets from a product the model never saw, so confidence alone
would auto-route them. The detectors score the embedding the classifier already computed (no
second model):

- :class:`KnnNovelty`: 1 - mean cosine to the ``k`` nearest training tickets (Sun et al. 2022);
- :class:`MahalanobisNovelty`: distance to the nearest class centroid under one shared covariance
  (Lee et al. 2018); compact (no stored embeddings);
- :class:`EnsembleNovelty` (the default, :data:`DEFAULT_METHOD`): both, standardised on
  validation and summed. ``bench/novelty.py`` withholds each banking77 team in turn and chooses
  method and quantile on the other withheld teams only: reported on the team left out, it keeps
  83.9 % of that team's tickets out of ``routed`` (75.0 % at worst) for 2.9 points of known
  teams' routed share, against 80.7 % for kNN alone, 80.9 % for Mahalanobis, 76.3 % for the
  energy score and 69.5 % for max-softmax (64.8 % on confidence alone).

The threshold is a high percentile of the scores of held-out in-distribution tickets, so the share
of normal tickets sent to manual by novelty is known in advance (1 - quantile).
"""

from __future__ import annotations

from collections.abc import Callable
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
ENSEMBLE_METHOD = "knn+mahalanobis"
#: What training fits (``fit_detector``); the manifest's ``novelty.method`` records it.
DEFAULT_METHOD = ENSEMBLE_METHOD
DEFAULT_QUANTILE = 0.93
DEFAULT_K = 1
ENSEMBLE_K = 10


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
    """Unit-normalised training embeddings (float32); score = 1 - mean cosine to the ``k``
    nearest ones."""

    bank: npt.NDArray[np.float32]
    threshold: float = float("inf")
    quantile: float = DEFAULT_QUANTILE
    k: int = DEFAULT_K

    @classmethod
    def fit(
        cls,
        embeddings: FloatArray,
        targets: np.ndarray[Any, Any] | None = None,
        k: int = DEFAULT_K,
    ) -> KnnNovelty:
        """``targets`` is accepted for a uniform ``fit`` but unused: nearness ignores labels."""
        del targets
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ModelError(f"embeddings {embeddings.shape} are invalid: need (n > 0, d)")
        if not 1 <= k <= len(embeddings):
            raise ModelError(
                f"k={k} neighbours is invalid for {len(embeddings)} training rows: "
                f"use 1 <= k <= rows ({DEFAULT_K})"
            )
        return cls(bank=_unit(embeddings).astype(np.float32), k=k)

    def score(self, embeddings: FloatArray) -> FloatArray:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if len(embeddings) == 0:
            return np.zeros(0)
        with one_blas_thread():
            similarity = _unit(embeddings).astype(np.float32) @ self.bank.T
        if self.k == 1:
            nearest = similarity.max(axis=1)
        else:  # the k largest per row, unordered: a partition, not a sort of the whole bank
            nearest = np.partition(similarity, -self.k, axis=1)[:, -self.k :].mean(axis=1)
        out: FloatArray = 1.0 - nearest.astype(np.float64)
        return out

    def save(self, folder: Path) -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "bank.npy", self.bank)
        return {**self._entry(KNN_METHOD, folder), "k": self.k}

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
            k=int(entry.get("k", 1)),  # manifests before k was recorded scored the nearest one
        )


@dataclass
class EnsembleNovelty(_Thresholded):
    """kNN (k=10) and Mahalanobis, each standardised on validation, summed: the default.

    The two err on different tickets (kNN misses a novelty near one odd training ticket,
    Mahalanobis one that sits between class centroids), so the sum catches more at the same
    cost; ``bench/novelty.py`` measured it on withheld teams not used to choose it."""

    knn: KnnNovelty
    mahalanobis: MahalanobisNovelty
    centre: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (1.0, 1.0)
    threshold: float = float("inf")
    quantile: float = DEFAULT_QUANTILE

    @classmethod
    def fit(
        cls, embeddings: FloatArray, targets: np.ndarray[Any, Any], k: int = ENSEMBLE_K
    ) -> EnsembleNovelty:
        """``targets``: the class of each row (the model's own prediction will do: the
        centroids only need to sit where the head's classes are)."""
        knn = KnnNovelty.fit(embeddings, k=max(1, min(k, len(embeddings))))
        return cls(knn=knn, mahalanobis=MahalanobisNovelty.fit(embeddings, targets))

    def _parts(self, embeddings: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self.knn.score(embeddings), self.mahalanobis.score(embeddings)

    def calibrate(self, embeddings: FloatArray, quantile: float = DEFAULT_QUANTILE) -> Self:
        """Standardise both scores on in-distribution rows, then set the threshold on them."""
        if len(embeddings) < 2:
            raise ModelError(
                f"cannot calibrate novelty on {len(embeddings)} validation rows; give a --val "
                "file (2 rows at least)"
            )
        knn, mahalanobis = self._parts(embeddings)
        self.centre = (float(knn.mean()), float(mahalanobis.mean()))
        self.scale = (max(float(knn.std()), 1e-12), max(float(mahalanobis.std()), 1e-12))
        return super().calibrate(embeddings, quantile)

    def score(self, embeddings: FloatArray) -> FloatArray:
        knn, mahalanobis = self._parts(embeddings)
        out: FloatArray = (knn - self.centre[0]) / self.scale[0] + (
            mahalanobis - self.centre[1]
        ) / self.scale[1]
        return out

    def save(self, folder: Path) -> dict[str, Any]:
        """The kNN bank and the Mahalanobis arrays side by side (their file names differ)."""
        self.knn.save(folder)
        self.mahalanobis.save(folder)
        return {
            **self._entry(ENSEMBLE_METHOD, folder),
            "k": self.knn.k,
            "centre": list(self.centre),
            "scale": list(self.scale),
        }

    @classmethod
    def load(cls, folder: Path, entry: dict[str, Any]) -> EnsembleNovelty:
        unset = {"threshold": float("inf")}
        centre, scale = entry.get("centre"), entry.get("scale")
        if not (isinstance(centre, list) and isinstance(scale, list)):
            raise ArtifactError(f"novelty entry {entry} lacks centre/scale: retrain the model")
        return cls(
            knn=KnnNovelty.load(folder, {**unset, "k": int(entry.get("k", ENSEMBLE_K))}),
            mahalanobis=MahalanobisNovelty.load(folder, {**unset, "method": METHOD}),
            centre=(float(centre[0]), float(centre[1])),
            scale=(float(scale[0]), float(scale[1])),
            threshold=float(entry["threshold"]),
            quantile=float(entry.get("quantile", DEFAULT_QUANTILE)),
        )


NoveltyDetector = KnnNovelty | MahalanobisNovelty | EnsembleNovelty
LOADERS: dict[str, Callable[[Path, dict[str, Any]], NoveltyDetector]] = {
    KNN_METHOD: KnnNovelty.load,
    METHOD: MahalanobisNovelty.load,
    ENSEMBLE_METHOD: EnsembleNovelty.load,
}


def fit_detector(embeddings: FloatArray, targets: np.ndarray[Any, Any]) -> NoveltyDetector:
    """The default detector (:data:`DEFAULT_METHOD`), fitted; calibrate it on validation."""
    return EnsembleNovelty.fit(embeddings, targets)


def load_detector(folder: Path, entry: dict[str, Any]) -> NoveltyDetector:
    """The detector a manifest's ``novelty`` entry names."""
    method = entry.get("method")
    loader = LOADERS.get(str(method))
    if loader is None:
        raise ArtifactError(
            f"novelty method {method!r} is unknown; this code reads {', '.join(LOADERS)}"
        )
    return loader(folder, entry)


def _unit(x: FloatArray) -> FloatArray:
    out: FloatArray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def _threshold(scores: FloatArray, quantile: float) -> float:
    if not 0.5 <= quantile < 1.0:
        raise ModelError(
            f"novelty quantile {quantile} is invalid: use 0.5 <= q < 1 ({DEFAULT_QUANTILE})"
        )
    if len(scores) == 0:
        raise ModelError("cannot calibrate novelty on 0 validation rows; give a --val file")
    return float(np.quantile(scores, quantile))

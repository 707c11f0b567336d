"""Novelty: far-away embeddings are flagged; in-distribution ones mostly are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.exceptions import ArtifactError, ModelError
from models.novelty import (
    DEFAULT_METHOD,
    EnsembleNovelty,
    KnnNovelty,
    MahalanobisNovelty,
    fit_detector,
    load_detector,
)


def clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 8, [6.0] + [0.0] * 7, [0.0, 6.0] + [0.0] * 6])
    targets = rng.integers(0, 3, size=n)
    return centres[targets] + rng.normal(size=(n, 8)), targets


def test_far_inputs_are_novel_and_held_out_inputs_mostly_are_not() -> None:
    train, targets = clusters(600, seed=0)
    val, _ = clusters(400, seed=1)
    detector = MahalanobisNovelty.fit(train, targets).calibrate(val, quantile=0.95)
    test, _ = clusters(2000, seed=2)
    in_share = detector.is_novel(detector.score(test)).mean()
    assert 0.02 < in_share < 0.09  # about 1 - quantile
    far = np.random.default_rng(3).normal(size=(50, 8)) + np.array([0, 0, 0, 0, 12.0, 0, 0, 0])
    assert detector.is_novel(detector.score(far)).all()


def test_save_load_round_trip(tmp_path: Path) -> None:
    train, targets = clusters(300, seed=0)
    detector = MahalanobisNovelty.fit(train, targets).calibrate(train)
    entry = detector.save(tmp_path / "novelty")
    again = MahalanobisNovelty.load(tmp_path / "novelty", entry)
    assert np.allclose(again.score(train), detector.score(train))
    assert again.threshold == detector.threshold


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="disagree"):
        MahalanobisNovelty.fit(np.zeros((4, 2)), np.zeros(3))
    detector = MahalanobisNovelty.fit(*clusters(50, seed=0))
    with pytest.raises(ModelError, match="quantile"):
        detector.calibrate(np.zeros((3, 8)), quantile=1.5)
    with pytest.raises(ArtifactError, match="missing"):
        MahalanobisNovelty.load(tmp_path, {"method": "mahalanobis", "threshold": 1.0})


def test_knn_flags_far_inputs_and_round_trips(tmp_path: Path) -> None:
    train, targets = clusters(600, seed=0)
    val, _ = clusters(400, seed=1)
    detector = KnnNovelty.fit(train, targets).calibrate(val, quantile=0.95)
    test, _ = clusters(2000, seed=2)
    assert 0.02 < detector.is_novel(detector.score(test)).mean() < 0.09
    # orthogonal to every cluster direction: far in cosine terms
    far = np.zeros((20, 8))
    far[:, 5] = 10.0
    far += np.random.default_rng(3).normal(scale=0.1, size=far.shape)
    assert detector.is_novel(detector.score(far)).all()
    entry = detector.save(tmp_path / "novelty")
    again = load_detector(tmp_path / "novelty", entry)
    assert isinstance(again, KnnNovelty)
    assert np.allclose(again.score(test), detector.score(test), atol=1e-6)
    with pytest.raises(ArtifactError, match="unknown"):
        load_detector(tmp_path / "novelty", {"method": "magic", "threshold": 0.1})


def test_knn_with_k_neighbours_is_not_fooled_by_one_stray_training_ticket(tmp_path: Path) -> None:
    """One mislabelled or odd training ticket next to a novelty hides it from k=1, not from k>1."""

    def two_directions(n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        centres = np.array([[6.0] + [0.0] * 7, [0.0, 6.0] + [0.0] * 6])
        return centres[rng.integers(0, 2, size=n)] + rng.normal(size=(n, 8))

    stray = np.zeros((1, 8))
    stray[0, 5] = 10.0
    bank = np.vstack([two_directions(600, seed=0), stray])
    val = two_directions(400, seed=1)
    far = stray + np.random.default_rng(3).normal(scale=0.1, size=(20, 8))
    nearest = KnnNovelty.fit(bank).calibrate(val, quantile=0.95)
    assert not nearest.is_novel(nearest.score(far)).any()
    five = KnnNovelty.fit(bank, k=5).calibrate(val, quantile=0.95)
    assert five.is_novel(five.score(far)).all()
    entry = five.save(tmp_path / "novelty")
    assert entry["k"] == 5
    again = load_detector(tmp_path / "novelty", entry)
    assert isinstance(again, KnnNovelty)
    assert again.k == 5
    assert np.allclose(again.score(far), five.score(far), atol=1e-6)
    # a manifest written before k was recorded scored the single nearest neighbour
    old = load_detector(tmp_path / "novelty", {k: v for k, v in entry.items() if k != "k"})
    assert isinstance(old, KnnNovelty)
    assert old.k == 1
    with pytest.raises(ModelError, match="k=0"):
        KnnNovelty.fit(bank, k=0)


def test_default_detector_sums_standardised_knn_and_mahalanobis(tmp_path: Path) -> None:
    train, targets = clusters(600, seed=0)
    val, _ = clusters(400, seed=1)
    detector = fit_detector(train, targets).calibrate(val, quantile=0.93)
    assert isinstance(detector, EnsembleNovelty)
    assert detector.knn.k == 10
    test, _ = clusters(2000, seed=2)
    assert 0.04 < detector.is_novel(detector.score(test)).mean() < 0.11  # about 1 - quantile
    # on validation both parts were standardised: each has mean 0 and deviation 1 there
    knn = (detector.knn.score(val) - detector.centre[0]) / detector.scale[0]
    assert abs(knn.mean()) < 1e-9
    assert abs(knn.std() - 1) < 1e-9
    far = np.random.default_rng(3).normal(size=(50, 8)) + np.array([0, 0, 0, 0, 12.0, 0, 0, 0])
    assert detector.is_novel(detector.score(far)).all()
    entry = detector.save(tmp_path / "novelty")
    assert entry["method"] == DEFAULT_METHOD == "knn+mahalanobis"
    again = load_detector(tmp_path / "novelty", entry)
    assert isinstance(again, EnsembleNovelty)
    assert np.allclose(again.score(test), detector.score(test), atol=1e-5)
    assert again.threshold == detector.threshold
    with pytest.raises(ArtifactError, match="centre/scale"):
        load_detector(tmp_path / "novelty", {"method": "knn+mahalanobis", "threshold": 1.0})
    with pytest.raises(ModelError, match="2 rows"):
        fit_detector(train, targets).calibrate(val[:1])

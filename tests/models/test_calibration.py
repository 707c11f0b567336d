"""Temperature scaling and ECE: the maths the bands rely on."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import expected_calibration_error, fit_temperature, nll, softmax
from models.exceptions import ModelError


def test_ece_is_the_weighted_gap_between_accuracy_and_confidence() -> None:
    # bin (0.8667, 0.9333]: 2 rows at 0.9, one right -> gap 0.4, weight 2/4
    # bin (0.5333, 0.6]:    2 rows at 0.6, both right -> gap 0.4, weight 2/4
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    targets = np.array([0, 1, 0, 1])
    assert expected_calibration_error(proba, targets) == pytest.approx(0.4)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    proba = np.array([[0.75, 0.25]] * 4)
    targets = np.array([0, 0, 0, 1])
    assert expected_calibration_error(proba, targets) == pytest.approx(0.0)


def test_confidence_of_one_lands_in_the_last_bin() -> None:
    proba = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(proba, np.array([0, 1])) == pytest.approx(0.5)


def miscalibrated_toy(scale: float, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports z * scale (over-confident if scale > 1)."""
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0.0, 1.5, size=(n, 4))
    proba = softmax(true_logits)
    targets = np.array([rng.choice(4, p=p) for p in proba])
    return true_logits * scale, targets


def test_temperature_lowers_nll_and_ece_of_an_overconfident_model() -> None:
    logits, targets = miscalibrated_toy(scale=3.0)
    temperature = fit_temperature(logits, targets)
    assert temperature == pytest.approx(3.0, rel=0.15)
    assert nll(logits, targets, temperature) < nll(logits, targets) - 0.1
    before = expected_calibration_error(softmax(logits), targets)
    after = expected_calibration_error(softmax(logits, temperature), targets)
    assert after < before / 2


def test_temperature_never_changes_the_prediction() -> None:
    logits, _ = miscalibrated_toy(scale=2.0, n=200)
    assert (softmax(logits, 2.7).argmax(1) == logits.argmax(1)).all()


def test_fit_temperature_refuses_mismatched_or_empty_input() -> None:
    with pytest.raises(ModelError, match="disagree"):
        fit_temperature(np.zeros((3, 2)), np.zeros(4, dtype=np.int64))
    with pytest.raises(ModelError, match="0 validation rows"):
        fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))

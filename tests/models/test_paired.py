"""The paired bootstrap behind the no-regression gates (issue 17)."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import accuracy_score, f1_score

from models.paired import paired_bootstrap


def predictions(rows: int, accuracy: float, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    classes = ["a", "b", "c", "d"]
    truth = [rng.choice(classes) for _ in range(rows)]
    return truth, [t if rng.random() < accuracy else rng.choice(classes) for t in truth]


def test_point_figures_are_the_ones_evaluate_reports() -> None:
    truth, first = predictions(500, 0.9, seed=1)
    _, second = predictions(500, 0.7, seed=2)
    sample = paired_bootstrap(truth, first, second)
    assert sample.first["macro_f1"] == pytest.approx(f1_score(truth, first, average="macro"))
    assert sample.second["accuracy"] == pytest.approx(accuracy_score(truth, second))
    assert sample.first["f1[a]"] == pytest.approx(
        f1_score(truth, first, labels=["a"], average="macro")
    )
    assert sample.support == {c: truth.count(c) for c in "abcd"}


def test_the_interval_holds_the_estimate_and_is_reproducible() -> None:
    truth, first = predictions(300, 0.85, seed=3)
    _, second = predictions(300, 0.80, seed=4)
    one = paired_bootstrap(truth, first, second).difference("macro_f1", 0.95)
    two = paired_bootstrap(truth, first, second).difference("macro_f1", 0.95)
    assert one == two
    assert one.low <= one.estimate <= one.high
    assert one.rows == 300
    wider = paired_bootstrap(truth, first, second).difference("macro_f1", 0.99)
    assert wider.low <= one.low
    assert wider.high >= one.high


def test_identical_models_differ_by_exactly_nothing() -> None:
    truth, first = predictions(200, 0.8, seed=5)
    d = paired_bootstrap(truth, first, list(first)).difference("accuracy", 0.95)
    assert (d.low, d.estimate, d.high) == (0.0, 0.0, 0.0)


def test_pairing_narrows_the_interval_of_models_that_err_together() -> None:
    """Two models wrong on the same hard rows: the gap between them is small and sure, although
    each one's own accuracy is uncertain by several points on 200 rows."""
    truth, first = predictions(200, 0.8, seed=6)
    second = list(first)
    wrong = [i for i, (t, p) in enumerate(zip(truth, first, strict=True)) if t == p][:4]
    for i in wrong:
        second[i] = "z"
    d = paired_bootstrap(truth, first, second).difference("accuracy", 0.95)
    assert d.estimate == pytest.approx(4 / 200)
    assert d.high - d.low < 0.05


def test_bad_input_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="0 rows"):
        paired_bootstrap([], [], [])
    with pytest.raises(ValueError, match="3 labels but 2 and 3"):
        paired_bootstrap(["a"] * 3, ["a"] * 2, ["a"] * 3)
    with pytest.raises(ValueError, match="resamples=10"):
        paired_bootstrap(["a"], ["a"], ["a"], resamples=10)
    with pytest.raises(ValueError, match=r"confidence=1\.5"):
        paired_bootstrap(["a"], ["a"], ["a"]).difference("accuracy", 1.5)


def test_label_sets_are_compared_label_by_label_and_by_exact_match() -> None:
    """A multi-label head: each label is a class; an extra label breaks the exact match even
    when the truth never holds it, and costs no present label's F1."""
    truth = [("billing",), ("billing", "refund"), ("refund",), ()]
    same = [("billing",), ("billing", "refund"), ("refund",), ()]
    extra = [("billing", "spam"), ("billing", "refund"), ("refund",), ()]

    sample = paired_bootstrap(truth, same, extra, resamples=200)

    assert sample.first["accuracy"] == 1.0
    assert sample.second["accuracy"] == 0.75
    assert sample.first["macro_f1"] == sample.second["macro_f1"] == 1.0
    assert sample.support == {"billing": 2, "refund": 2}
    gap = sample.difference("accuracy", 0.9)
    assert gap.low >= 0
    assert gap.high > 0

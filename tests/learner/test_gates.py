"""The gate rules, pure: metrics in, verdict out."""

from __future__ import annotations

from typing import Any

import pytest

from learner.gates import CORRECTIONS_HOLDOUT, GOLD_TEST, Margins, is_held_out, judge
from models.gates import EvalPack

PACK = EvalPack(min_macro_f1=0.6, min_accuracy=0.6, min_per_class_f1=0.4)


def metrics(a: float, b: float, rows: int = 100) -> dict[str, Any]:
    """Two classes with F1 ``a`` and ``b``; accuracy and macro-F1 are their mean."""
    return {
        "rows": rows,
        "macro_f1": (a + b) / 2,
        "accuracy": (a + b) / 2,
        "per_class": {
            "x": {"precision": a, "recall": a, "f1": a, "support": rows // 2},
            "y": {"precision": b, "recall": b, "f1": b, "support": rows - rows // 2},
        },
    }


def test_first_candidate_is_gated_by_floors_only() -> None:
    verdict = judge(
        {GOLD_TEST: metrics(0.8, 0.8)}, None, pack=PACK, margins=Margins(), min_holdout_rows=20
    )
    assert verdict.passed
    assert verdict.sets[GOLD_TEST].regression.gates == {}


def test_floor_failure_rejects() -> None:
    verdict = judge(
        {GOLD_TEST: metrics(0.9, 0.3)}, None, pack=PACK, margins=Margins(), min_holdout_rows=20
    )
    assert not verdict.passed
    assert any("min_per_class_f1" in line and "class y" in line for line in verdict.failures())


def test_regression_within_margin_passes_beyond_fails() -> None:
    deployed = {GOLD_TEST: metrics(0.90, 0.90)}
    margins = Margins(macro_f1=0.02, class_f1=0.05)
    ok = judge(
        {GOLD_TEST: metrics(0.89, 0.89)}, deployed, pack=PACK, margins=margins, min_holdout_rows=20
    )
    worse = judge(
        {GOLD_TEST: metrics(0.85, 0.85)}, deployed, pack=PACK, margins=margins, min_holdout_rows=20
    )
    assert ok.passed
    assert not worse.passed
    assert any("no_regression_macro_f1" in line for line in worse.failures())


def test_one_class_dropping_beyond_its_margin_fails_even_if_macro_rises() -> None:
    deployed = {GOLD_TEST: metrics(0.80, 0.90)}
    candidate = {GOLD_TEST: metrics(0.99, 0.83)}  # macro up, y down 0.07
    verdict = judge(
        candidate, deployed, pack=PACK, margins=Margins(0.01, 0.05), min_holdout_rows=20
    )
    assert not verdict.passed
    assert verdict.failures() == [
        f"{GOLD_TEST}: no_regression_per_class_f1 0.83 < 0.85 failed on class y"
    ]


def test_holdout_gates_only_with_enough_rows() -> None:
    bad_holdout = metrics(0.2, 0.2, rows=10)
    small = judge(
        {GOLD_TEST: metrics(0.9, 0.9), CORRECTIONS_HOLDOUT: bad_holdout},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
    )
    assert small.passed
    assert small.sets[CORRECTIONS_HOLDOUT].skipped
    big = judge(
        {GOLD_TEST: metrics(0.9, 0.9), CORRECTIONS_HOLDOUT: metrics(0.2, 0.2, rows=40)},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
    )
    assert not big.passed
    assert all(line.startswith(CORRECTIONS_HOLDOUT) for line in big.failures())
    assert big.to_dict()["sets"][CORRECTIONS_HOLDOUT]["passed"] is False


def test_gold_test_is_required() -> None:
    with pytest.raises(ValueError, match=GOLD_TEST):
        judge(
            {CORRECTIONS_HOLDOUT: metrics(0.9, 0.9)},
            None,
            pack=PACK,
            margins=Margins(),
            min_holdout_rows=1,
        )


def test_holdout_assignment_is_stable_and_near_its_share() -> None:
    ids = [f"c{i}" for i in range(2000)]
    first = [is_held_out(i, 0.2) for i in ids]
    assert first == [is_held_out(i, 0.2) for i in ids]
    assert 0.16 < sum(first) / len(ids) < 0.24


def test_class_with_too_few_holdout_rows_is_not_gated_per_class() -> None:
    """Regression: F1 0.0 on 2 held-out `fx` rows rejected good candidates."""
    holdout = metrics(0.9, 0.0, rows=40)
    holdout["per_class"]["y"]["support"] = 2
    gold = metrics(0.9, 0.9)
    verdict = judge(
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: holdout},
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: metrics(0.9, 1.0, rows=40)},
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
        min_class_support=5,
    )
    assert verdict.sets[CORRECTIONS_HOLDOUT].thin_classes == ["y"]
    assert not any("class y" in line for line in verdict.failures())
    strict = judge(
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: holdout},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
        min_class_support=1,
    )
    assert any("failed on class y" in line for line in strict.failures())

"""A stored gate report read back for the dashboard and `triage models list` (issue 17)."""

from __future__ import annotations

from learner.gates import CORRECTIONS_HOLDOUT, GOLD_TEST, Margins, judge
from models.gates import EvalPack
from store import GateRow, gate_rows
from tests.learner.test_gates import metrics


def test_each_set_shows_its_verdict_and_the_paired_interval_behind_it() -> None:
    deployed = {GOLD_TEST: metrics(400, x=20), CORRECTIONS_HOLDOUT: metrics(30, x=3)}
    candidate = {GOLD_TEST: metrics(400, x=10), CORRECTIONS_HOLDOUT: metrics(30, x=25)}
    verdict = judge(candidate, deployed, pack=EvalPack(), margins=Margins(), min_holdout_rows=20)

    rows = {row.name: row for row in gate_rows(verdict.to_dict())}

    assert rows[GOLD_TEST].passed is True
    assert (
        rows[GOLD_TEST]
        .figures[0]
        .startswith(
            "no_regression_macro_f1: candidate 0.9875 vs deployed 0.9750 on 800 rows, "
            "difference +0.0125, 95.0% interval [+0.0"
        )
    )
    assert rows[CORRECTIONS_HOLDOUT].passed is False
    assert "no_regression_macro_f1 failed: candidate 0." in rows[CORRECTIONS_HOLDOUT].detail
    assert "on 60 rows" in rows[CORRECTIONS_HOLDOUT].figures[0]


def test_a_report_from_before_the_paired_gates_still_shows() -> None:
    old = {
        "passed": False,
        "sets": {
            GOLD_TEST: {
                "passed": False,
                "failures": ["no_regression_macro_f1 0.78 < 0.78 failed"],
                "no_regression": {"no_regression_macro_f1": {"value": 0.78, "threshold": 0.78}},
            }
        },
    }
    assert gate_rows(old) == [
        GateRow(GOLD_TEST, passed=False, detail="no_regression_macro_f1 0.78 < 0.78 failed")
    ]


def test_a_crashed_run_shows_its_error() -> None:
    assert gate_rows({"error": "RuntimeError('out of memory')"}) == [
        GateRow("run", passed=False, detail="RuntimeError('out of memory')")
    ]

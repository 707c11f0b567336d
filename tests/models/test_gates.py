"""Eval gates: floors from the eval pack, the failure message, and no-regression checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.exceptions import DataError, GateFailed
from models.gates import DEFAULT_PACK, EvalPack, check, compare, load_pack


def metrics(support: int = 100, /, **f1: float) -> dict[str, Any]:
    per_class = {
        label: {"precision": v, "recall": v, "f1": v, "support": support} for label, v in f1.items()
    }
    macro = sum(f1.values()) / len(f1)
    return {"accuracy": macro, "macro_f1": macro, "per_class": per_class}


def test_default_pack_file_holds_the_documented_floors() -> None:
    pack = load_pack(DEFAULT_PACK)
    assert (pack.min_macro_f1, pack.min_accuracy, pack.min_per_class_f1) == (0.65, 0.70, 0.50)


def test_a_good_model_passes_every_gate() -> None:
    report = check(metrics(billing=0.9, cancellation=0.8), EvalPack())
    assert report.passed
    assert set(report.to_dict()) == {"min_macro_f1", "min_accuracy", "min_per_class_f1"}
    assert report.failures() == []
    report.raise_if_failed()


def test_a_starved_class_fails_and_the_message_names_it() -> None:
    report = check(metrics(billing=0.95, cards=0.93, cancellation=0.42), EvalPack())
    assert not report.passed
    assert report.failures() == ["min_per_class_f1 0.42 < 0.50 failed on class cancellation"]
    gate = report.to_dict()["min_per_class_f1"]
    assert gate == {"value": 0.42, "threshold": 0.5, "passed": False, "class": "cancellation"}
    with pytest.raises(GateFailed, match="failed on class cancellation") as info:
        report.raise_if_failed()
    assert info.value.report is report


def test_per_class_floors_from_the_pack() -> None:
    pack = EvalPack.model_validate({"per_class": {"fraud": {"min_recall": 0.9}}})
    report = check(metrics(fraud=0.85, cards=0.95), pack)
    assert report.failures() == ["min_recall[fraud] 0.85 < 0.90 failed on class fraud"]


def test_classes_absent_from_the_evaluation_data_are_not_judged() -> None:
    m = metrics(billing=0.9, cards=0.9)
    m["per_class"]["rare"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert check(m, EvalPack()).passed


def test_compare_catches_a_regression_against_the_deployed_model() -> None:
    deployed = metrics(billing=0.90, cards=0.90, cancellation=0.80)
    better = metrics(billing=0.92, cards=0.91, cancellation=0.81)
    assert compare(better, deployed, margin=0.01).passed
    starving = metrics(billing=0.99, cards=0.99, cancellation=0.70)
    report = compare(starving, deployed, margin=0.01, per_class_margin=0.05)
    assert report.failures() == [
        "no_regression_per_class_f1 0.70 < 0.75 failed on class cancellation"
    ]


def test_per_class_allowance_is_at_least_one_tickets_worth() -> None:
    """On 8 rows one ticket moves F1 by 1/8: a 0.10 drop there is noise, on 100 rows it is not."""
    deployed, candidate = metrics(8, fx=0.90, cards=0.90), metrics(8, fx=0.80, cards=0.90)
    assert compare(candidate, deployed, margin=0.2, per_class_margin=0.05).passed
    deployed, candidate = metrics(100, fx=0.90, cards=0.90), metrics(100, fx=0.80, cards=0.90)
    report = compare(candidate, deployed, margin=0.2, per_class_margin=0.05)
    assert report.failures() == ["no_regression_per_class_f1 0.80 < 0.85 failed on class fx"]


def test_pack_with_a_typo_or_missing_file_is_refused(tmp_path: Path) -> None:
    typo = tmp_path / "pack.json"
    typo.write_text(json.dumps({"min_macro_f": 0.7}))
    with pytest.raises(DataError, match="min_macro_f"):
        load_pack(typo)
    with pytest.raises(DataError, match="does not exist"):
        load_pack(tmp_path / "nope.json")

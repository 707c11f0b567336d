"""Eval gates: floors from the eval pack, the failure message, and no-regression checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.exceptions import DataError, GateFailed
from models.gates import DEFAULT_PACK, EvalPack, RegressionGate, check, compare, load_pack
from models.paired import paired_bootstrap


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
    assert report.failures() == ["min_per_class_f1 0.4200 < 0.5000 failed on class cancellation"]
    gate = report.to_dict()["min_per_class_f1"]
    assert gate == {"value": 0.42, "threshold": 0.5, "passed": False, "class": "cancellation"}
    with pytest.raises(GateFailed, match="failed on class cancellation") as info:
        report.raise_if_failed()
    assert info.value.report is report


def test_per_class_floors_from_the_pack() -> None:
    pack = EvalPack.model_validate({"per_class": {"fraud": {"min_recall": 0.9}}})
    report = check(metrics(fraud=0.85, cards=0.95), pack)
    assert report.failures() == ["min_recall[fraud] 0.8500 < 0.9000 failed on class fraud"]


def test_classes_absent_from_the_evaluation_data_are_not_judged() -> None:
    m = metrics(billing=0.9, cards=0.9)
    m["per_class"]["rare"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert check(m, EvalPack()).passed


def test_compare_fails_only_when_the_whole_interval_is_below_the_margin() -> None:
    truth = ["billing"] * 200 + ["cards"] * 200
    deployed = ["billing"] * 180 + ["cards"] * 20 + ["cards"] * 200  # 20 billing rows wrong
    one_more_wrong = ["billing"] * 179 + ["cards"] * 21 + ["cards"] * 200
    sixty_more_wrong = ["billing"] * 120 + ["cards"] * 80 + ["cards"] * 200
    noise = compare(
        paired_bootstrap(truth, one_more_wrong, deployed),
        margin=0.01,
        class_margin=0.05,
        confidence=0.95,
    )
    worse = compare(
        paired_bootstrap(truth, sixty_more_wrong, deployed),
        margin=0.01,
        class_margin=0.05,
        confidence=0.95,
    )

    assert noise.passed
    assert not worse.passed
    gate = worse.gates["no_regression_accuracy"]
    assert isinstance(gate, RegressionGate)
    assert gate.difference.estimate == pytest.approx(-60 / 400)
    assert gate.difference.high < -0.01
    assert worse.to_dict()["no_regression_accuracy"]["rows"] == 400


def test_per_class_intervals_widen_with_the_number_of_classes() -> None:
    """Bonferroni: each of k classes is tested at 1 - (1 - confidence) / k."""
    truth = ["a"] * 50 + ["b"] * 50
    sample = paired_bootstrap(truth, truth, ["b"] * 5 + truth[5:])
    report = compare(sample, margin=0.01, class_margin=0.05, confidence=0.9, classes=["a", "b"])
    gate = report.gates["no_regression_f1[a]"]
    assert isinstance(gate, RegressionGate)
    assert gate.difference.confidence == pytest.approx(0.95)
    assert gate.label == "a"


def test_pack_with_a_typo_or_missing_file_is_refused(tmp_path: Path) -> None:
    typo = tmp_path / "pack.json"
    typo.write_text(json.dumps({"min_macro_f": 0.7}))
    with pytest.raises(DataError, match="min_macro_f"):
        load_pack(typo)
    with pytest.raises(DataError, match="does not exist"):
        load_pack(tmp_path / "nope.json")

"""The gate rules: pure (per-row predictions in, verdict out), then on real models."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import precision_recall_fscore_support

from learner.gates import (
    CORRECTIONS_HOLDOUT,
    GOLD_TEST,
    Margins,
    evaluate_sets,
    head_of,
    head_set,
    is_held_out,
    judge,
    lost_heads,
)
from learner.retrain import fit_candidate
from models.data import LabelledData
from models.gates import EvalPack
from tests.fixtures.models import read_sample

PACK = EvalPack(min_macro_f1=0.6, min_accuracy=0.6, min_per_class_f1=0.4)


def scored(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    """The metrics dict ``evaluate_sets`` builds, from labels and predictions."""
    classes = sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    return {
        "rows": len(truth),
        "macro_f1": float(f1.mean()),
        "accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "labels": truth,
        "predicted": predicted,
    }


def model(
    rows: int, wrong: dict[str, int] | None = None, classes: str = "xy"
) -> tuple[list[str], list[str]]:
    """``rows`` tickets of each class; ``wrong[c]`` of class c's are predicted as the next class
    (the last class's as the first)."""
    wrong = wrong or {}
    truth, predicted = [], []
    for label, other in zip(classes, classes[1:] + classes[0], strict=True):
        for i in range(rows):
            truth.append(label)
            predicted.append(other if i < wrong.get(label, 0) else label)
    return truth, predicted


def metrics(rows: int, **wrong: int) -> dict[str, Any]:
    return scored(*model(rows, wrong))


def test_first_candidate_is_gated_by_floors_only() -> None:
    verdict = judge(
        {GOLD_TEST: metrics(50, x=5)}, None, pack=PACK, margins=Margins(), min_holdout_rows=20
    )
    assert verdict.passed
    assert verdict.sets[GOLD_TEST].regression.gates == {}


def test_floor_failure_rejects_and_says_four_decimals() -> None:
    verdict = judge(
        {GOLD_TEST: metrics(50, y=40)}, None, pack=PACK, margins=Margins(), min_holdout_rows=20
    )
    assert not verdict.passed
    assert f"{GOLD_TEST}: min_per_class_f1 0.3333 < 0.4000 failed on class y" in verdict.failures()


def test_a_drop_within_noise_passes_a_real_drop_fails_with_its_figures() -> None:
    """The issue-17 fault: on a few dozen rows one or two tickets decided the verdict."""
    deployed = {GOLD_TEST: metrics(400, x=20, y=20), CORRECTIONS_HOLDOUT: metrics(30, x=3)}
    noise = {GOLD_TEST: metrics(400, x=18, y=20), CORRECTIONS_HOLDOUT: metrics(30, x=5)}
    worse = {GOLD_TEST: metrics(400, x=60, y=50), CORRECTIONS_HOLDOUT: metrics(30, x=3)}
    margins = Margins(macro_f1=0.01, class_f1=0.05)
    ok = judge(noise, deployed, pack=PACK, margins=margins, min_holdout_rows=20)
    bad = judge(worse, deployed, pack=PACK, margins=margins, min_holdout_rows=20)

    holdout = ok.sets[CORRECTIONS_HOLDOUT].regression.gates["no_regression_macro_f1"]
    assert holdout.value < deployed[CORRECTIONS_HOLDOUT]["macro_f1"] - 0.01, "a point-rule fail"
    assert ok.passed
    assert not bad.passed
    line = next(f for f in bad.failures() if "no_regression_macro_f1" in f)
    assert line.startswith(f"{GOLD_TEST}: no_regression_macro_f1 failed: candidate 0.8625 vs ")
    assert "deployed 0.9500 on 800 rows, difference -0.0875, 95.0% interval [-0.1" in line
    assert "margin 0.0100" in line
    stored = bad.to_dict()["sets"][GOLD_TEST]["no_regression"]["no_regression_macro_f1"]
    assert stored["rows"] == 800
    assert stored["difference"] == -0.0875
    low, high = stored["interval"]
    assert low <= -0.0875 <= high < -0.01


def test_one_class_dropping_beyond_its_margin_fails_even_if_macro_rises() -> None:
    deployed = {GOLD_TEST: scored(*model(300, {"x": 100, "y": 10}, "xyz"))}
    # x's F1 0.80 -> 1.00; 75 of y's tickets flood z: z's F1 0.984 -> 0.889
    candidate = {GOLD_TEST: scored(*model(300, {"y": 75}, "xyz"))}
    verdict = judge(
        candidate, deployed, pack=PACK, margins=Margins(0.01, 0.05), min_holdout_rows=20
    )
    assert candidate[GOLD_TEST]["macro_f1"] > deployed[GOLD_TEST]["macro_f1"]
    assert not verdict.passed
    assert [f.split(":")[1] for f in verdict.failures()] == [" no_regression_f1[z] failed"]
    assert "on 300 rows" in verdict.failures()[0], "a class's figure names its own rows"


def test_holdout_gates_only_with_enough_rows() -> None:
    small = judge(
        {GOLD_TEST: metrics(50), CORRECTIONS_HOLDOUT: metrics(5, x=4, y=4)},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
    )
    assert small.passed
    assert small.sets[CORRECTIONS_HOLDOUT].skipped
    big = judge(
        {GOLD_TEST: metrics(50), CORRECTIONS_HOLDOUT: metrics(20, x=16, y=16)},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
    )
    assert not big.passed
    assert all(line.startswith(CORRECTIONS_HOLDOUT) for line in big.failures())
    assert big.to_dict()["sets"][CORRECTIONS_HOLDOUT]["passed"] is False


def test_each_head_is_gated_on_its_own_floors_and_against_its_own_deployed_answers() -> None:
    """An urgency head that got worse is caught though the team head did not move; the team
    floors are not the urgency head's (a 3-class urgency head at 0.62 passes the pack's
    floors, which name no urgency), and the gold test set's head share gates however small."""
    urgency = head_set(GOLD_TEST, "urgency")
    deployed = {GOLD_TEST: metrics(100), urgency: metrics(8)}
    candidate = {GOLD_TEST: metrics(100), urgency: metrics(8, x=4, y=4)}
    headed = PACK.model_copy(update={"heads": {"urgency": EvalPack(min_macro_f1=0.9)}})

    verdict = judge(candidate, deployed, pack=headed, margins=Margins(), min_holdout_rows=20)
    lenient = judge(
        candidate, None, pack=EvalPack(min_macro_f1=0.6), margins=Margins(), min_holdout_rows=20
    )

    assert not verdict.passed
    assert verdict.sets[urgency].skipped is None, "the gold test set always gates"
    assert verdict.sets[urgency].regression.gates, "compared with the deployed urgency head"
    assert any(f.startswith(f"{urgency}: min_macro_f1 0.5000 < 0.9000") for f in verdict.failures())
    assert lenient.passed, "a head the pack does not name has no floors"
    assert head_of(urgency) == "urgency"
    assert head_of(GOLD_TEST) is None


def test_gold_test_is_required() -> None:
    with pytest.raises(ValueError, match=GOLD_TEST):
        judge(
            {CORRECTIONS_HOLDOUT: metrics(20)},
            None,
            pack=PACK,
            margins=Margins(),
            min_holdout_rows=1,
        )


def test_candidate_and_deployed_must_be_scored_on_the_same_rows() -> None:
    with pytest.raises(ValueError, match="different rows"):
        judge(
            {GOLD_TEST: metrics(20)},
            {GOLD_TEST: metrics(21)},
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
    truth = ["x"] * 38 + ["y"] * 2
    holdout = scored(truth, ["x"] * 40)  # both y rows missed
    gold = metrics(50)
    verdict = judge(
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: holdout},
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: scored(truth, truth)},
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
        min_class_support=5,
    )
    assert verdict.sets[CORRECTIONS_HOLDOUT].thin_classes == ["y"]
    assert not any("class y" in line or "[y]" in line for line in verdict.failures())
    strict = judge(
        {GOLD_TEST: gold, CORRECTIONS_HOLDOUT: holdout},
        None,
        pack=PACK,
        margins=Margins(),
        min_holdout_rows=20,
        min_class_support=1,
    )
    assert any("failed on class y" in line for line in strict.failures())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_candidate_trained_on_30_percent_flipped_labels_is_rejected(
    tmp_path: Path, sample_dir: Path, seed: int
) -> None:
    """Real models on the shipped banking77 slice: the paired rule is lenient with noise, not
    with a poisoned training set."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    test_texts, test_labels = read_sample(sample_dir / "banking77_test.csv")
    gold = LabelledData(texts[:600], labels[:600], "gold")
    test = LabelledData(test_texts, test_labels, "gold-test")
    classes = sorted(set(labels))
    rng = random.Random(seed)
    flipped = [
        rng.choice([c for c in classes if c != label]) if rng.random() < 0.3 else label
        for label in gold.labels
    ]
    fit = functools.partial(fit_candidate, backend="tfidf", test=test, pack=EvalPack())
    deployed = fit(gold, tmp_path / "deployed")
    candidate = fit(LabelledData(gold.texts, flipped, "flipped"), tmp_path / "candidate")
    sets = {GOLD_TEST: test}

    verdict = judge(
        evaluate_sets(candidate.model, sets, EvalPack()),
        evaluate_sets(deployed.model, sets, EvalPack()),
        pack=EvalPack(),
        margins=Margins(),
        min_holdout_rows=20,
    )

    assert sum(a != b for a, b in zip(flipped, gold.labels, strict=True)) > 150
    assert not verdict.passed
    assert any("no_regression_macro_f1 failed" in line for line in verdict.failures())


def test_a_candidate_that_drops_a_deployed_head_is_rejected_by_name(
    headed_model_dir: Path, lora_model_dir: Path
) -> None:
    from models import load

    headed, flat = load(headed_model_dir, "cpu"), load(lora_model_dir, "cpu")
    assert lost_heads(flat, headed) == ["intent", "tags"]
    assert lost_heads(headed, flat) == []
    assert lost_heads(headed, None) == []
    verdict = judge(
        {GOLD_TEST: metrics(50, x=1)}, None, pack=PACK, margins=Margins(), min_holdout_rows=20
    )
    assert verdict.passed
    verdict.lost_heads = lost_heads(flat, headed)
    assert not verdict.passed
    assert "['intent', 'tags'] are missing from the candidate" in verdict.failures()[-1]

"""Retraining: how gold and corrections merge, and that a candidate lands in the registry dir."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from learner.retrain import (
    GoldSet,
    RetrainError,
    as_labelled,
    fit_candidate,
    split_corrections,
    training_set,
)
from models.artifact import load, read_manifest
from models.data import HeadLabels, LabelledData
from models.gates import EvalPack
from store import TrainingCorrection
from tests.fixtures.models import read_sample

LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def tc(cid: str, text: str, label: str, head: str = "label") -> TrainingCorrection:
    return TrainingCorrection(
        correction_id=cid,
        ticket_id=f"t-{cid}",
        text=text,
        label=label,
        action="override",
        reviewer="ana",
        corrected_at=datetime(2025, 1, 1, tzinfo=UTC),
        head=head,
    )


def test_corrections_win_over_gold_and_later_corrections_win() -> None:
    gold = LabelledData(["a", "b"], ["x", "y"], "gold")
    merged = training_set(gold, [tc("1", "b", "x"), tc("2", "c", "y"), tc("3", "c", "x")])
    assert dict(zip(merged.texts, merged.labels, strict=True)) == {"a": "x", "b": "x", "c": "x"}
    assert as_labelled([tc("1", "c", "y"), tc("2", "c", "x")], "h").labels == ["x"]


def test_a_head_correction_sets_that_heads_label_never_the_primary_one() -> None:
    urgency = HeadLabels(False, [("low",), None])
    gold = LabelledData(["a", "b"], ["cards", "transfers"], "gold", {"urgency": urgency})
    fixes = [tc("1", "a", "high", "urgency"), tc("2", "b", "low", "urgency")]
    fixes.append(tc("3", "c", "high", "urgency"))  # no primary label known for c

    merged = training_set(gold, fixes)

    assert dict(zip(merged.texts, merged.labels, strict=True)) == {"a": "cards", "b": "transfers"}
    assert merged.heads["urgency"].values == [("high",), ("low",)]
    assert as_labelled(fixes, "holdout").texts == [], "the primary holdout has its own head only"
    assert as_labelled(fixes, "holdout", head="urgency").labels == ["high", "low", "high"]


def test_a_multilabel_correction_sets_the_whole_set_of_its_head() -> None:
    tags = HeadLabels(True, [("billing",), ()])
    gold = LabelledData(["a", "b"], ["cards", "transfers"], "gold", {"tags": tags})

    merged = training_set(gold, [tc("1", "a", '["billing", "refund"]', "tags")])

    assert merged.heads["tags"].values == [("billing", "refund"), ()]


def test_split_keeps_every_correction_once() -> None:
    rows = [tc(str(i), f"text {i}", "x") for i in range(200)]
    train, held = split_corrections(rows, 0.2)
    assert sorted(r.correction_id for r in train + held) == sorted(r.correction_id for r in rows)
    assert 20 <= len(held) <= 60
    assert split_corrections(rows, 0.2) == (train, held)


def test_gold_set_round_trips_and_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(RetrainError, match=r"train\.jsonl"):
        GoldSet.read(tmp_path)
    gold = GoldSet(
        LabelledData(["a, quoted", "b"], ["x", "y"], "g"), LabelledData(["c", "d"], ["x", "y"], "g")
    )
    gold.write(tmp_path)
    back = GoldSet.read(tmp_path)
    assert back.train.texts == gold.train.texts
    assert back.test.labels == gold.test.labels


def test_tfidf_candidate_is_written_under_its_version(tmp_path: Path, sample_dir: Path) -> None:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    data = LabelledData(texts[:150], labels[:150], "sample")
    candidate = fit_candidate(data, tmp_path / "models", backend="tfidf", test=data, pack=LENIENT)
    assert candidate.model_dir == tmp_path / "models" / candidate.version
    assert read_manifest(candidate.model_dir).version == candidate.version
    assert load(candidate.model_dir, "cpu").labels == candidate.model.labels
    assert [p.name for p in (tmp_path / "models").iterdir()] == [candidate.version]


@pytest.mark.slow
def test_transformer_candidate_uses_the_models_training_code(
    tmp_path: Path, sample_dir: Path
) -> None:
    from models.train import TrainConfig

    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    data = LabelledData(texts[:150], labels[:150], "sample")
    test = LabelledData(texts[150:200], labels[150:200], "sample")
    candidate = fit_candidate(
        data,
        tmp_path / "models",
        backend="lora-transformer",
        test=test,
        pack=LENIENT,
        config=TrainConfig(epochs=1, max_length=32, device="cpu"),
    )
    manifest = read_manifest(candidate.model_dir)
    assert manifest.kind == "lora-transformer"
    assert manifest.version == candidate.version
    assert manifest.metrics["rows"] == 50  # evaluated on the gold test rows it was given

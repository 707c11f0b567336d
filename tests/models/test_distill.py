"""The distilled student: fewer layers, gated on macro-F1 before it may serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from torch import nn

from models.artifact import load, read_manifest
from models.data import LabelledData
from models.distill import DistillConfig, DistillResult, distill, keep_layers, ship, shrink
from models.exceptions import ModelError
from models.onnx import OnnxClassifier
from models.transformer import TransformerClassifier
from tests.fixtures.models import read_sample


def test_keep_layers_spreads_evenly_and_keeps_the_last() -> None:
    assert keep_layers(6, 3) == [1, 3, 5]
    assert keep_layers(6, 2) == [2, 5]
    assert keep_layers(6, 6) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ModelError, match="cannot keep 7 of 6"):
        keep_layers(6, 7)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ModelError, match="alpha"):
        DistillConfig(alpha=1.5)


@pytest.mark.slow
def test_shrink_copies_only_the_kept_layers(lora_model_dir: Path) -> None:
    teacher = load(lora_model_dir, "cpu", runtime="torch")
    assert isinstance(teacher, TransformerClassifier)
    model = teacher.model
    student = shrink(model, [1, 5])
    assert student.config.num_hidden_layers == 2
    layers = next(m for m in student.modules() if isinstance(m, nn.ModuleList))
    assert len(layers) == 2
    assert model.config.num_hidden_layers == 6  # the teacher is untouched


@pytest.fixture(scope="module")
def distilled(lora_model_dir: Path, sample_dir: Path) -> tuple[object, DistillResult]:
    teacher = load(lora_model_dir, "cpu", runtime="torch")
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    test_texts, test_labels = read_sample(sample_dir / "banking77_test.csv")
    train = LabelledData(texts[:160], labels[:160], "sample")
    val = LabelledData(texts[160:220], labels[160:220], "sample")
    test = LabelledData(test_texts[:80], test_labels[:80], "sample")
    assert isinstance(teacher, TransformerClassifier)
    config = DistillConfig(layers=2, epochs=1, batch_size=16)
    result = distill(teacher, train, val, test, config)
    return teacher, result


@pytest.mark.slow
def test_distill_trains_a_calibrated_novelty_aware_student(distilled) -> None:
    _, result = distilled
    assert result.layers == [2, 5]
    assert result.student.novelty is not None
    assert result.student.temperature > 0
    record = result.record()
    assert record["shipped"] == (
        record["student_macro_f1"] >= record["teacher_macro_f1"] - record["max_f1_drop"]
    )
    scores = result.student.score(["my card does not work"])
    assert scores.proba.shape == (1, len(result.student.labels))


@pytest.mark.slow
def test_a_student_outside_the_bound_is_recorded_not_served(
    distilled, lora_model_dir: Path, tmp_path: Path
) -> None:
    _, result = distilled
    model_dir = tmp_path / "model"
    shutil.copytree(lora_model_dir, model_dir)
    failing = DistillResult(
        student=result.student,
        layers=result.layers,
        teacher_macro_f1=0.9,
        student_macro_f1=0.8,
        seconds=1.0,
        history=[],
    )
    record = ship(model_dir, failing, ["card lost"])
    assert record["shipped"] is False
    runtime = read_manifest(model_dir).backend["runtime"]
    assert runtime["student"]["macro_f1_delta"] == pytest.approx(-0.1)
    assert "onnx" not in runtime
    assert not isinstance(load(model_dir, "cpu"), OnnxClassifier)


@pytest.mark.slow
def test_a_student_within_the_bound_becomes_the_onnx_engine(
    distilled, lora_model_dir: Path, tmp_path: Path, sample_dir: Path
) -> None:
    _, result = distilled
    model_dir = tmp_path / "model"
    shutil.copytree(lora_model_dir, model_dir)
    passing = DistillResult(
        student=result.student,
        layers=result.layers,
        teacher_macro_f1=0.9,
        student_macro_f1=0.899,
        seconds=1.0,
        history=[],
    )
    texts, _ = read_sample(sample_dir / "banking77_test.csv")
    record = ship(model_dir, passing, texts[:60])
    assert record["shipped"] is True
    served = load(model_dir, "cpu")
    assert isinstance(served, OnnxClassifier)
    assert served.source == "student-2-layers"
    assert served.temperature == pytest.approx(result.student.temperature)
    direct = result.student.predict_proba(texts[:60]).argmax(axis=1)
    via_loader = served.predict_proba(texts[:60]).argmax(axis=1)
    assert (direct == via_loader).mean() >= 0.95

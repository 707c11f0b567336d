"""ONNX export of a transformer artifact: validated before use, chosen by the one loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.artifact import load, read_manifest, write_manifest
from models.exceptions import ArtifactError
from models.onnx import OnnxClassifier, build
from tests.fixtures.models import read_sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(lora_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, sample_dir: Path):
    """A copy of the tiny LoRA model with its ONNX export built and validated."""
    model_dir = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(lora_model_dir, model_dir)
    texts, labels = read_sample(sample_dir / "banking77_test.csv")
    record = build(model_dir, texts[:120], labels[:120])
    return model_dir, record, texts[:120]


def test_build_records_the_validation_in_the_manifest(exported) -> None:
    model_dir, record, _ = exported
    stored = read_manifest(model_dir).backend["runtime"]["onnx"]
    assert stored["validated"] == record["validated"]
    assert (model_dir / stored["file"]).is_file()
    assert stored["validation"]["rows"] == 120
    assert stored["precision"] in ("int8-dynamic", "fp32")
    # fp32 is the fallback; when chosen it must agree (fused kernels, same arithmetic)
    assert stored["validated"], stored["tried"]


def test_auto_serves_the_export_and_agrees_with_torch(exported) -> None:
    model_dir, _, texts = exported
    fast = load(model_dir, "cpu")
    reference = load(model_dir, "cpu", runtime="torch")
    assert isinstance(fast, OnnxClassifier)
    assert not isinstance(reference, OnnxClassifier)
    a, b = fast.score(texts), reference.score(texts)
    agreement = (a.proba.argmax(axis=1) == b.proba.argmax(axis=1)).mean()
    assert agreement >= 0.97
    assert a.novelty.shape == (len(texts),)
    assert fast.version == reference.version
    assert fast.labels == reference.labels
    empty = fast.score([])
    assert empty.proba.shape == (0, len(fast.labels))


def test_an_unvalidated_export_is_never_used(exported, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(exported[0], model_dir)
    manifest = read_manifest(model_dir)
    runtime = dict(manifest.backend["runtime"])
    runtime["onnx"] = {**runtime["onnx"], "validated": False}
    manifest.backend = {**manifest.backend, "runtime": runtime}
    write_manifest(model_dir, manifest)
    assert not isinstance(load(model_dir, "cpu"), OnnxClassifier)
    with pytest.raises(ArtifactError, match="agreed with torch"):
        load(model_dir, "cpu", runtime="onnx")


def test_runtime_onnx_without_an_export_says_how_to_build_one(lora_model_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="triage bench"):
        load(lora_model_dir, "cpu", runtime="onnx")
    with pytest.raises(ArtifactError, match="unknown"):
        load(lora_model_dir, "cpu", runtime="tensorrt")


def test_tfidf_models_refuse_onnx_but_load_with_auto(tfidf_model_dir: Path) -> None:
    assert load(tfidf_model_dir, "cpu").predict_proba(["card lost"]).shape[0] == 1
    with pytest.raises(ArtifactError, match="no ONNX runtime"):
        load(tfidf_model_dir, "cpu", runtime="onnx")


def test_probabilities_stay_close_to_torch(exported) -> None:
    model_dir, _, texts = exported
    fast = load(model_dir, "cpu")
    reference = load(model_dir, "cpu", runtime="torch")
    gap = np.abs(fast.predict_proba(texts) - reference.predict_proba(texts)).max()
    assert gap < 0.25


def test_a_hierarchy_serves_its_child_model_through_the_export(exported, tmp_path: Path) -> None:
    """The fast path returns every head from its one pass: the child's logits are the model's."""
    from models.hierarchy import HierarchicalClassifier, Hierarchy, wrap_leaf

    model_dir, _, texts = exported
    teams = read_manifest(model_dir).labels
    groups = Hierarchy(
        {t: ("plastic" if t in ("cards", "cash_atm") else "money") for t in teams}, "team"
    )
    shutil.copytree(model_dir, tmp_path / "h" / "leaf")
    wrap_leaf(tmp_path / "h", groups)
    fast, reference = load(tmp_path / "h", "cpu"), load(tmp_path / "h", "cpu", runtime="torch")
    assert isinstance(fast, HierarchicalClassifier)
    assert isinstance(fast.leaf, OnnxClassifier)
    assert not isinstance(reference.leaf, OnnxClassifier)  # type: ignore[attr-defined]
    a, b = fast.score(texts), reference.score(texts)
    assert fast.labels == ["money", "plastic"]
    child = a.heads["team"]
    picked = [child.labels[i] for i in child.proba.argmax(axis=1)]
    parents = [fast.labels[i] for i in a.proba.argmax(axis=1)]
    assert all(groups.parent_of[c] == p for c, p in zip(picked, parents, strict=True))
    agreement = (child.proba.argmax(axis=1) == b.heads["team"].proba.argmax(axis=1)).mean()
    assert agreement >= 0.97

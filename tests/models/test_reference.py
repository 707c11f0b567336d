"""The drift reference: recorded by the pipeline in the manifest, read back with the model, and
absent (drift unknown, no error) from a manifest written before it existed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import pipeline
from models.artifact import load, read_manifest
from models.data import LabelledData
from models.gates import EvalPack
from models.reference import CONFIDENCE_BINS, confidence_edges
from models.train_config import TrainConfig
from stream.drift import DriftReference
from tests.fixtures.models import read_sample

LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def pipeline_tfidf(sample_dir: Path, out: Path) -> Path:
    """A TF-IDF team model trained on every sample train row through the one pipeline (about a
    second): unlike ``tfidf_model_dir`` its manifest has a drift reference."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    request = pipeline.TrainRequest(
        data=LabelledData(texts, labels, "sample"),
        config=TrainConfig(),
        pack=LENIENT,
        kind="tfidf",
        health=None,
        progress=False,
    )
    pipeline.run(request, out)
    return out


def test_the_pipeline_records_the_reference_in_the_manifest(
    sample_dir: Path, tmp_path: Path
) -> None:
    out = pipeline_tfidf(sample_dir, tmp_path / "model")
    manifest = read_manifest(out)
    raw = manifest.model_extra["drift_reference"]  # type: ignore[index]
    test_rows = manifest.data["rows"]["test"]
    # TF-IDF trains without a validation split: the held-out test split is the reference
    assert (raw["split"], raw["rows"]) == ("test", test_rows)
    assert set(raw["label_shares"]) == set(manifest.labels)
    assert sum(raw["label_shares"].values()) == pytest.approx(1.0)
    assert sum(raw["confidence_shares"]) == pytest.approx(1.0)
    assert len(raw["confidence_edges"]) == len(raw["confidence_shares"]) + 1
    # quantile bins: none empty on the reference side
    assert min(raw["confidence_shares"]) > 0
    assert raw["novelty_rate"] == 0.0  # TF-IDF has no novelty detector
    assert 1 / len(manifest.labels) <= raw["mean_confidence"] <= 1

    reference = DriftReference.of(load(out, "cpu"))
    assert reference is not None
    assert reference.rows == test_rows
    assert reference.mean_confidence == raw["mean_confidence"]


def test_a_manifest_without_a_reference_loads_and_drift_is_unknown(tfidf_model_dir: Path) -> None:
    """``tfidf_model_dir`` is saved without the pipeline, as every model before drift watch."""
    model = load(tfidf_model_dir, "cpu")
    assert "drift_reference" not in (read_manifest(tfidf_model_dir).model_extra or {})
    assert DriftReference.of(model) is None


def test_confidence_edges_are_reference_quantiles_and_merge_ties() -> None:
    spread = np.linspace(0.3, 1.0, 101)
    edges = confidence_edges(spread)
    assert len(edges) == CONFIDENCE_BINS + 1
    assert (edges[0], edges[-1]) == (0.0, 1.0)
    assert edges == sorted(edges)
    assert confidence_edges(np.ones(50)) == [0.0, 1.0]  # always sure: one bin

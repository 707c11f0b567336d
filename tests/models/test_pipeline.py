"""The one training pipeline and its backend registry, on the TF-IDF backend (seconds, no torch).

What `triage train`, the learner's retrain and distillation rely on: every step runs, in order;
data health is a step, not something a caller remembers; fitting and loading a kind use the
same registry entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from models import pipeline
from models.artifact import load, read_manifest
from models.backends import BACKENDS, backend, resolve
from models.data import LabelledData
from models.exceptions import ArtifactError
from models.gates import EvalPack
from models.result import TrainResult
from models.tfidf import TfidfClassifier, TfidfTrainer
from models.train_config import TrainConfig
from tests.fixtures.models import read_sample

STEPS = (
    "prepare",
    "split_parts",
    "fit",
    "calibrate",
    "novelty",
    "pseudo_label",
    "evaluate_step",
    "gate",
)
LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def tfidf_request(
    sample_dir: Path, extra: Sequence[tuple[str, str]] = (), **fields: Any
) -> pipeline.TrainRequest:
    """A TF-IDF request on the first 300 sample rows, plus ``extra`` (text, label) rows."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    texts, labels = texts[:300], labels[:300]
    for text, label in extra:
        texts.append(text)
        labels.append(label)
    data = LabelledData(texts, labels, "sample")
    return pipeline.TrainRequest(
        data=data, config=TrainConfig(), pack=LENIENT, kind="tfidf", **fields
    )


def test_every_step_runs_in_order_then_save(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def recording(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return step(*args, **kwargs)

        return record

    for name in STEPS:
        monkeypatch.setattr(pipeline, name, recording(name, getattr(pipeline, name)))
    monkeypatch.setattr(TrainResult, "save", recording("save", TrainResult.save))

    result = pipeline.run(tfidf_request(sample_dir), tmp_path / "model")

    assert calls == [*STEPS, "save"]
    assert result.evaluation.rows == len(result.split.test) > 0
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_data_health_cleans_the_rows_and_reports_it_in_the_manifest(
    sample_dir: Path, tmp_path: Path
) -> None:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    dirty = [
        ("my card was stolen, write to ana.lopez@example.com", labels[0]),
        (texts[0], labels[0]),  # an exact copy of the first row
        ("   ", labels[1]),  # nothing left after cleaning
    ]
    seen: list[str] = []
    request = tfidf_request(
        sample_dir, dirty, on_health=lambda role, _raw, _report: seen.append(role)
    )

    result = pipeline.run(request, tmp_path / "model")

    health = read_manifest(tmp_path / "model").data["health"]
    assert seen == ["train"]
    assert health["rows_in"] == 303
    assert health["exact_duplicates"] >= 1
    assert health["empty_dropped"] == 1
    assert health["redactions"]["email"] == 1
    assert health["rows_out"] < 303
    every_row = [*result.split.train.texts, *result.split.test.texts]
    assert not any("ana.lopez@example.com" in text for text in every_row)
    assert any("[EMAIL]" in text for text in every_row)


def test_an_unknown_backend_names_the_known_kinds(sample_dir: Path) -> None:
    request = tfidf_request(sample_dir)
    request.kind = "fasttext"

    with pytest.raises(ArtifactError, match="'fasttext'") as caught:
        pipeline.train(request)

    for kind in BACKENDS:
        assert kind in str(caught.value)


def test_fitting_and_loading_a_kind_use_the_same_registry_entry(
    sample_dir: Path, tmp_path: Path
) -> None:
    entry = backend("tfidf")
    assert resolve(entry.trainer) is TfidfTrainer
    assert resolve(entry.model) is TfidfClassifier

    result = pipeline.run(tfidf_request(sample_dir), tmp_path / "model")
    loaded = load(tmp_path / "model", "cpu")

    assert read_manifest(tmp_path / "model").kind == entry.kind
    assert type(result.classifier) is type(loaded) is resolve(entry.model)
    probe = ["my card has not arrived", "I want a refund"]
    assert (loaded.predict_proba(probe) == result.classifier.predict_proba(probe)).all()

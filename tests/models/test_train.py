"""Training configuration, the stratified split, imbalance handling, determinism."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from models.data import LabelledData
from models.exceptions import DataError, ModelError
from models.gates import EvalPack
from models.pipeline import TrainRequest, train
from models.settings import default_base_model
from models.train import TrainConfig, class_weights, epoch_order, fit, split


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("lr", 5.0),
        ("batch_size", -1),
        ("max_length", 4),
        ("imbalance", "smote"),
        ("val_fraction", 0.7),
        ("truncation", "middle"),
        ("device", "tpu"),
    ],
)
def test_bad_config_values_are_refused_with_the_value(field: str, value: object) -> None:
    with pytest.raises(ModelError, match=f"{field}={value!r}|{field}={value}"):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def labelled(counts: dict[str, int]) -> LabelledData:
    texts, labels = [], []
    for label, n in counts.items():
        texts += [f"{label} {i}" for i in range(n)]
        labels += [label] * n
    return LabelledData(texts, labels, "toy")


def test_split_is_stratified_seeded_and_disjoint() -> None:
    data = labelled({"a": 100, "b": 30, "c": 2})
    parts = split(data, 0.1, 0.1, seed=7)
    assert Counter(parts.val.labels) == {"a": 10, "b": 3}
    assert Counter(parts.test.labels) == {"a": 10, "b": 3}
    assert Counter(parts.train.labels) == {"a": 80, "b": 24, "c": 2}
    everything = parts.train.texts + parts.val.texts + parts.test.texts
    assert sorted(everything) == sorted(data.texts)
    assert split(data, 0.1, 0.1, seed=7) == parts
    assert split(data, 0.1, 0.1, seed=8).val.texts != parts.val.texts


def test_rare_classes_weigh_more_and_are_oversampled() -> None:
    weights = class_weights([0] * 90 + [1] * 10, 2)
    assert weights[1] / weights[0] == pytest.approx(3.0)
    assert float(weights.mean()) == pytest.approx(1.0)
    targets = np.array([0] * 90 + [1] * 10)
    generator = torch.Generator().manual_seed(0)
    drawn = targets[epoch_order(targets, "oversample", generator).numpy()]
    assert 0.35 < drawn.mean() < 0.65


def test_training_without_validation_rows_is_refused() -> None:
    data = labelled({"a": 5, "b": 5})
    with pytest.raises(DataError, match="validation"):
        fit(data, TrainConfig(), base_model=default_base_model(), val=None)


def test_test_labels_unlike_training_are_refused_before_fitting() -> None:
    data = LabelledData([f"ticket {i}" for i in range(40)], ["mortgage", "debt"] * 20, "train")
    test = LabelledData(["a", "b"], ["Mortgage", "Debt"], "test")
    request = TrainRequest(data, TrainConfig(), EvalPack(), base_model="-", test=test, health=None)
    with pytest.raises(DataError, match="none of the test labels"):
        train(request)


@pytest.mark.slow
def test_same_seed_same_model(sample_dir: Path) -> None:
    from tests.fixtures.models import read_sample

    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    data = LabelledData(texts[:60], labels[:60], "sample")
    val = LabelledData(texts[60:80], labels[60:80], "sample")
    config = TrainConfig(epochs=1, max_length=16, device="cpu")
    runs = [
        fit(data, config, base_model=default_base_model(), val=val, progress=False)[0]
        for _ in range(2)
    ]
    probe = texts[100:110]
    assert np.allclose(runs[0].predict_proba(probe), runs[1].predict_proba(probe), atol=1e-6)

"""Team -> intent hierarchy: one child model served as parent (primary) + child heads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models import load
from models.artifact import read_manifest
from models.data import LabelledData
from models.exceptions import DataError, ModelError
from models.gates import EvalPack
from models.hierarchy import HierarchicalClassifier, Hierarchy, read_hierarchical
from models.pipeline import TrainRequest, train
from models.train_config import TrainConfig
from tests.fixtures.models import read_sample

LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def sample_rows(sample_dir: Path, name: str = "banking77_train.csv") -> list[dict[str, str]]:
    with (sample_dir / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def intent_request(sample_dir: Path, **extra: object) -> TrainRequest:
    texts, intents = read_sample(sample_dir / "banking77_train.csv", "intent")
    test_texts, test_intents = read_sample(sample_dir / "banking77_test.csv", "intent")
    return TrainRequest(
        data=LabelledData(texts, intents, "sample"),
        test=LabelledData(test_texts, test_intents, "sample test"),
        config=TrainConfig(),
        pack=LENIENT,
        hierarchy=Hierarchy.from_file(sample_dir / "teams.json", "intent"),
        progress=False,
        **{"kind": "tfidf", **extra},  # type: ignore[arg-type]
    )


@pytest.fixture
def hierarchy_dir(hierarchy_model_dir: Path) -> Path:
    return hierarchy_model_dir


def test_the_mapping_file_gives_each_child_its_parent(sample_dir: Path) -> None:
    hierarchy = Hierarchy.from_file(sample_dir / "teams.json")
    rows = sample_rows(sample_dir)
    assert all(hierarchy.parent_of[r["intent"]] == r["team"] for r in rows)
    assert len(hierarchy.parents) == 7


def test_a_child_under_two_parents_is_refused() -> None:
    with pytest.raises(DataError, match="'card_arrival' sits under both 'cards' and 'transfers'"):
        Hierarchy.from_pairs([("card_arrival", "cards"), ("card_arrival", "transfers")])


def test_no_child_outside_its_parent_on_1000_tickets(hierarchy_dir: Path, sample_dir: Path) -> None:
    model = load(hierarchy_dir)
    assert isinstance(model, HierarchicalClassifier)
    # held-out tickets first: on its own training rows the model seldom hesitates between teams
    texts = [r["text"] for r in sample_rows(sample_dir, "banking77_test.csv")]
    texts = (texts + [r["text"] for r in sample_rows(sample_dir)])[:1000]
    assert len(texts) == 1000
    scores = model.score(texts)
    child = scores.heads["intent"]
    parent_of = model.hierarchy.parent_of
    teams = [model.labels[i] for i in scores.proba.argmax(axis=1)]
    intents = [child.labels[i] for i in child.proba.argmax(axis=1)]
    assert all(parent_of[i] == t for i, t in zip(intents, teams, strict=True))
    # the unconstrained top intent does leave its team sometimes: the constraint is doing work
    leaf = model.leaf.predict_proba(texts)
    free = [model.leaf.labels[i] for i in leaf.argmax(axis=1)]
    assert any(parent_of[i] != t for i, t in zip(free, teams, strict=True))
    np.testing.assert_allclose(scores.proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(child.proba.sum(axis=1), 1.0, atol=1e-9)


def test_the_primary_head_is_the_team_and_the_child_is_evaluated_too(hierarchy_dir: Path) -> None:
    manifest = read_manifest(hierarchy_dir)
    assert manifest.kind == "hierarchy"
    assert manifest.labels == sorted(set(manifest.heads["intent"].parent_of.values()))  # type: ignore[attr-defined]
    assert manifest.heads["intent"].parent_head == "label"
    assert set(manifest.metrics["per_class"]) >= set(manifest.labels)
    child = manifest.metrics["heads"]["intent"]
    assert 0 < child["macro_f1"] < manifest.metrics["macro_f1"]
    leaf = read_manifest(hierarchy_dir / "leaf")
    assert leaf.kind == "tfidf"
    assert len(leaf.labels) == len(manifest.heads["intent"].labels)


def test_saved_and_loaded_it_scores_the_same(hierarchy_dir: Path, sample_dir: Path) -> None:
    texts = [r["text"] for r in sample_rows(sample_dir, "banking77_test.csv")][:50]
    first, second = load(hierarchy_dir).score(texts), load(hierarchy_dir).score(texts)
    np.testing.assert_array_equal(first.proba, second.proba)
    np.testing.assert_array_equal(first.heads["intent"].proba, second.heads["intent"].proba)


def test_labels_are_matched_in_the_normal_form_data_health_gives(sample_dir: Path) -> None:
    request = intent_request(sample_dir)
    shouting = {k.upper(): v.title() for k, v in request.hierarchy.parent_of.items()}  # type: ignore[union-attr]
    request.hierarchy = Hierarchy(shouting, "intent")
    result = train(request)
    assert set(result.classifier.labels) == {v.lower() for v in shouting.values()}


def test_a_hierarchy_kind_cannot_be_trained_on_its_own(sample_dir: Path) -> None:
    request = intent_request(sample_dir, kind="hierarchy")
    with pytest.raises(ModelError, match="built around another backend"):
        train(request)


def test_train_reads_two_columns_or_a_mapping_file_the_same(sample_dir: Path) -> None:
    data = sample_dir / "banking77_train.csv"
    rows, from_columns = read_hierarchical(data, "text", "team", "intent", None)
    same_rows, from_file = read_hierarchical(
        data, "text", "intent", None, sample_dir / "teams.json"
    )
    assert rows.labels == same_rows.labels == read_sample(data, "intent")[1]
    assert from_columns is not None
    assert from_file is not None
    assert all(from_file.parent_of[c] == p for c, p in from_columns.parent_of.items())
    assert (from_columns.child_head, from_file.child_head) == ("intent", "intent")
    flat, none = read_hierarchical(data, "text", "team", None, None)
    assert none is None
    assert flat.labels == read_sample(data, "team")[1]


def test_train_cli_refuses_the_hierarchy_given_twice(tmp_path: Path, sample_dir: Path) -> None:
    from models.cli import train_command

    args = [str(sample_dir / "banking77_train.csv"), "--label-col", "team", "--sub-label-col"]
    args += ["intent", "--hierarchy", str(sample_dir / "teams.json"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code != 0
    assert "give the hierarchy once" in str(result.exception)


def test_evaluate_scores_the_child_head_on_its_own_column(
    hierarchy_dir: Path, sample_dir: Path, tfidf_model_dir: Path
) -> None:
    from models.cli import evaluate_command

    test = str(sample_dir / "banking77_test.csv")
    args = [str(hierarchy_dir), test, "--label-col", "team", "--sub-label-col", "intent"]
    result = CliRunner().invoke(evaluate_command, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    child = out["heads"]["intent"]
    assert child["rows"] == out["rows"] > 400
    assert "card_arrival" in child["per_class"]
    assert child["macro_f1"] < out["macro_f1"]
    flat = CliRunner().invoke(
        evaluate_command,
        [str(tfidf_model_dir), test, "--sub-label-col", "intent", "--label-col", "team"],
    )
    assert flat.exit_code != 0
    assert "has one head" in str(flat.exception)

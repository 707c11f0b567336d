"""The learner with extra heads: the gold set keeps them, a retrain trains them all, each head is
gated on its own, and a deployed head the gold set cannot train stops the run before it starts
(instead of training, rejecting and quarantining the honest corrections it consumed)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import models
from learner.exceptions import RetrainError
from learner.gates import is_held_out as held_out
from learner.retrain import GoldSet, as_children, training_set
from models.data import HeadColumn, LabelledData, read_labelled
from models.train_config import TrainConfig
from schemas.events import Decision, HeadDecision, LabelScore
from store import CorrectionOutcome, DeployedLabels, Store, registry
from tests.fixtures.models import TINY_EPOCHS, TINY_MAX_LENGTH, TINY_ROWS, headed_rows
from tests.learner.events import correction, decision
from tests.learner.test_retrain import tc
from tests.learner.test_trigger import learner, setup_gold

HEADS = (HeadColumn("intent"), HeadColumn("tags", multilabel=True, sep="|"))


def headed_gold(tmp_path: Path, sample_dir: Path) -> GoldSet:
    """The headed model's rows (team, intent, tags) as a gold set: the first TINY_ROWS train."""
    rows = headed_rows(sample_dir)
    export = tmp_path / "headed.csv"
    with export.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data = read_labelled(export, "text", "team", HEADS)
    every = range(len(data))
    gold = GoldSet(
        train=data.take(every[:TINY_ROWS]),
        test=data.take(every[TINY_ROWS : TINY_ROWS + 150]),
        heads=HEADS,
        weights={"intent": 0.5},
    )
    gold.write(tmp_path / "gold")
    return gold


def with_intent(
    ticket_id: str, team: str, text: str, data: LabelledData, row: int, parent: str | None = None
) -> Decision:
    """A decision of a headed model: the team plus the intent head's answer (``parent``:
    ``label`` for a hierarchy's child head, None for a task head)."""
    given = data.heads["intent"].values[row]
    intent = given[0] if given else "card_arrival"
    answer = HeadDecision(
        label=intent,
        confidence=0.55,
        band="manual",
        parent_head=parent,
        top_k=[LabelScore(label=intent, probability=0.55)],
    )
    return decision(ticket_id, team, body=text).model_copy(update={"heads": {"intent": answer}})


def deploy(store: Store, model_dir: Path) -> str:
    version = models.read_manifest(model_dir).version
    registry.register_candidate(store, version, str(model_dir))
    registry.mark_deployed(store, version)
    return version


def test_a_gold_set_keeps_its_heads_and_weights(tmp_path: Path, sample_dir: Path) -> None:
    gold = headed_gold(tmp_path, sample_dir)

    back = GoldSet.read(tmp_path / "gold")

    assert back.heads == HEADS
    assert back.weights == {"intent": 0.5}
    for name in ("intent", "tags"):
        assert back.train.heads[name] == gold.train.heads[name]
        assert back.test.heads[name] == gold.test.heads[name]
    (tmp_path / "gold" / "heads.json").write_text('["intent"]')
    with pytest.raises(RetrainError, match="--task-col"):
        GoldSet.read(tmp_path / "gold")


def test_a_deployed_head_the_gold_set_lacks_stops_the_run_before_it_starts(
    store: Store, tmp_path: Path, sample_dir: Path, headed_model_dir: Path
) -> None:
    """The old learner trained a flat candidate from text and label, rejected or deployed it
    without the heads, and consumed the corrections either way."""
    _gold, texts, _ = setup_gold(tmp_path, sample_dir)  # text and label only
    deploy(store, headed_model_dir)
    labels = DeployedLabels(store, headed_model_dir).heads()
    for i in range(5):
        store.add_decision(decision(f"t{i}", "cards", body=texts[i]))
        fix = correction(f"t{i}", "payments_disputes")
        assert store.add_correction(fix, labels) is CorrectionOutcome.stored
    waiting = store.unused_corrections_count()
    loop = learner(store, tmp_path, retrain_after=1)

    with pytest.raises(RetrainError, match=r"\['intent', 'tags'\].*--task-col intent"):
        loop.run()

    assert store.retrain_history() == [], "no run is on record"
    assert store.unused_corrections_count() == waiting, "the corrections wait, unconsumed"
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_retrain_trains_every_head_and_gates_each(
    store: Store, tmp_path: Path, sample_dir: Path, headed_model_dir: Path
) -> None:
    """Head corrections train their head (an intent correction never becomes a team), the
    candidate keeps every head, and each single-label head has gates of its own."""
    gold = headed_gold(tmp_path, sample_dir)
    deploy(store, headed_model_dir)
    labels = DeployedLabels(store, headed_model_dir).heads()
    intents = sorted(labels["intent"])
    for i, text in enumerate(gold.train.texts[:30]):
        store.add_decision(with_intent(f"t{i}", gold.train.labels[i], text, gold.train, i))
        head_fix = correction(f"t{i}", intents[i % len(intents)], head="intent")
        assert store.add_correction(head_fix, labels) is CorrectionOutcome.stored
    tiny = TrainConfig(epochs=TINY_EPOCHS, max_length=TINY_MAX_LENGTH, device="cpu")
    loop = learner(store, tmp_path, retrain_after=30, train_config=tiny)
    loop.backend = "lora-transformer"
    loop.pack = models.EvalPack(
        min_macro_f1=0, min_accuracy=0, min_per_class_f1=0, heads={"intent": {"min_macro_f1": 1}}
    )

    every = store.training_corrections(unused_only=False)
    held = sum(1 for c in every if held_out(c.correction_id, loop.holdout_share))

    result = loop.run()

    candidate = models.read_manifest(tmp_path / "models" / result.version)
    assert set(candidate.heads) == {"label", "intent", "tags"}
    assert set(candidate.labels) == set(gold.train.labels), "no intent became a team"
    sets = result.report["sets"]
    assert sets["gold_test:intent"]["rows"] == len(gold.test)
    assert sets["gold_test:intent"]["no_regression"], "gated against the deployed intent head"
    assert sets["gold_test:tags"]["rows"] == len(gold.test), "the multi-label head too"
    assert "no_regression_macro_f1" in sets["gold_test:tags"]["no_regression"]
    assert sets["corrections_holdout:intent"]["rows"] == held > 0
    failures = result.report["failures"]
    assert any(line.startswith("gold_test:intent: min_macro_f1") for line in failures)
    assert not result.deployed, "the intent head's own floor (1.0) rejects the candidate"
    training = candidate.metrics["training"]
    assert training["config"]["head_weights"] == {"intent": 0.5}


def sample_hierarchy_gold(tmp_path: Path, sample_dir: Path, skip_test: int = 0) -> GoldSet:
    """The sample's team and intent columns as a hierarchy's gold set (intent under team),
    written to ``tmp_path/gold``; the first ``skip_test`` test rows are left out of it (a test
    sends them as tickets)."""
    column = (HeadColumn("intent"),)
    test = read_labelled(sample_dir / "banking77_test.csv", "text", "team", column)
    gold = GoldSet(
        train=read_labelled(sample_dir / "banking77_train.csv", "text", "team", column),
        test=test.take(range(skip_test, len(test))),
        heads=column,
        child="intent",
    )
    gold.write(tmp_path / "gold")
    return gold


def test_a_hierarchy_gold_set_trains_child_labels_that_sit_under_their_team(
    tmp_path: Path, sample_dir: Path
) -> None:
    sample_hierarchy_gold(tmp_path, sample_dir)
    gold = GoldSet.read(tmp_path / "gold")
    hierarchy = gold.hierarchy()
    assert gold.child == "intent"
    assert hierarchy is not None
    (a, team_a), (b, team_b) = zip(gold.train.texts[:2], gold.train.labels[:2], strict=True)
    other_team = next(t for t in hierarchy.parents if t != team_a)
    sibling = next(
        i for i, t in sorted(hierarchy.parent_of.items()) if t == team_b and i != intent(gold, 1)
    )
    fixes = [tc("1", a, other_team), tc("2", b, sibling, "intent")]

    rows = as_children(training_set(gold.train, fixes), hierarchy)

    assert a not in rows.texts, "its team moved and its intent did not: it cannot train"
    assert dict(zip(rows.texts, rows.labels, strict=True))[b] == sibling
    assert len(rows) == len(gold.train) - 1


def intent(gold: GoldSet, row: int) -> str:
    value = gold.train.heads["intent"].values[row]
    assert value is not None
    return value[0]


def test_a_hierarchy_retrains_as_a_hierarchy_and_its_child_head_is_gated(
    store: Store, tmp_path: Path, sample_dir: Path, hierarchy_model_dir: Path
) -> None:
    gold = sample_hierarchy_gold(tmp_path, sample_dir)
    deploy(store, hierarchy_model_dir)
    labels = DeployedLabels(store, hierarchy_model_dir).heads()
    intents = sorted(labels["intent"])
    parent_of = gold.hierarchy().parent_of  # type: ignore[union-attr]
    for i, text in enumerate(gold.train.texts[:40]):
        team = gold.train.labels[i]
        store.add_decision(with_intent(f"t{i}", team, text, gold.train, i, parent="label"))
        inside = [x for x in intents if parent_of.get(x) == team]
        fix = correction(f"t{i}", inside[i % len(inside)], head="intent")
        assert store.add_correction(fix, labels) is CorrectionOutcome.stored
    loop = learner(store, tmp_path, retrain_after=40)
    loop.pack = models.EvalPack(
        min_macro_f1=0, min_accuracy=0, min_per_class_f1=0, heads={"intent": {"min_macro_f1": 1}}
    )  # rejected by the intent head's floor: nothing is announced

    result = loop.run()

    candidate = models.read_manifest(tmp_path / "models" / result.version)
    assert candidate.kind == "hierarchy"
    assert candidate.heads["intent"].parent_head == "label"
    sets = result.report["sets"]
    assert sets["gold_test"]["rows"] == len(gold.test)
    assert sets["gold_test:intent"]["rows"] == len(gold.test)
    assert sets["gold_test:intent"]["no_regression"], "gated against the deployed intent head"
    assert any(f.startswith("gold_test:intent: min_macro_f1") for f in result.report["failures"])


def test_a_hierarchys_rows_keep_their_other_heads() -> None:
    from models import Hierarchy
    from models.data import HeadLabels

    heads = {
        "intent": HeadLabels(False, [("card_arrival",), ("loan_rate",), ("card_arrival",)]),
        "urgency": HeadLabels(False, [("high",), None, ("low",)]),
    }
    data = LabelledData(["a", "b", "c"], ["cards", "loans", "loans"], "rows", heads)
    tree = Hierarchy({"card_arrival": "cards", "loan_rate": "loans"}, "intent")

    rows = as_children(data, tree)

    assert rows.texts == ["a", "b"], "c's intent is another team's"
    assert rows.labels == ["card_arrival", "loan_rate"]
    assert set(rows.heads) == {"urgency"}
    assert rows.heads["urgency"].values == [("high",), None]

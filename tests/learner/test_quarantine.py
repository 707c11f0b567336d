"""A rejected retrain quarantines its corrections; later runs train without them (issue 10).

The table's scenario, scaled down: random-label floods are rejected run after run, then honest
corrections arrive. Before, every run retrained on every correction ever stored, so the flood
sank the honest run too; now each rejected run's corrections are held, and the honest run is
judged on gold plus honest corrections alone.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from learner.deploy import Announcer
from learner.retrain import fit_candidate
from models.gates import EvalPack
from schemas.events import ModelDeployed
from schemas.topics import Topics
from store import CorrectionOutcome, Store, corrections, registry
from store.tables import CorrectionRow
from tests.learner.events import correction, decision
from tests.learner.test_trigger import learner, setup_gold


@dataclass(frozen=True)
class Recorded(Announcer):
    """The broker and redis side of a deploy, recorded instead of sent: this test is about
    which corrections train, not about announcing."""

    events: list[ModelDeployed] = field(default_factory=list)

    def announce(self, event: ModelDeployed) -> None:
        self.events.append(event)


def statuses(store: Store) -> dict[str, str]:
    from sqlalchemy import select

    with store.session() as session:
        rows = session.execute(select(CorrectionRow.correction_id, CorrectionRow.status))
        return {cid: status for cid, status in rows}


def send(store: Store, labels: list[str], rows: list[tuple[str, str, str]]) -> list[str]:
    """(ticket, text, label) -> the stored corrections' ids, each an override."""
    ids = []
    for ticket_id, text, label in rows:
        store.add_decision(decision(ticket_id, labels[0], body=text))
        event = correction(ticket_id, label, correction_id=f"c-{ticket_id}")
        assert store.add_correction(event, labels) is CorrectionOutcome.stored
        ids.append(event.correction_id)
    return ids


def test_rejected_runs_are_quarantined_and_honest_corrections_train_without_them(
    store: Store, tmp_path: Path, sample_dir: Path
) -> None:
    gold, texts, true = setup_gold(tmp_path, sample_dir)
    first = fit_candidate(
        gold.train, tmp_path / "models", backend="tfidf", test=gold.test, pack=EvalPack()
    )
    registry.register_candidate(store, first.version, str(first.model_dir))
    registry.mark_deployed(store, first.version)
    labels = list(first.model.labels)
    rng = random.Random(11)
    loop = learner(store, tmp_path, retrain_after=100)
    loop.announcer = announcer = Recorded(
        "unused:1", "redis://127.0.0.1:6379/0", Topics(f"q{uuid.uuid4().hex[:8]}.")
    )

    flood: list[str] = []
    for wave in range(2):
        rows = [(f"bad{wave}-{i}", texts[wave * 100 + i], rng.choice(labels)) for i in range(100)]
        flood += send(store, labels, rows)
        result = loop.maybe_run()
        assert result is not None
        assert not result.deployed
        assert result.corrections_used == 100, "each flood run trains on its own wave only"
        assert result.quarantined == 100
    assert {statuses(store)[c] for c in flood} == {"quarantined"}
    assert store.unused_corrections_count() == 0
    assert not loop.due()
    entries = corrections.audit_log(store)
    assert [(e.actor, e.action, len(e.correction_ids)) for e in entries] == [
        ("learner", "quarantine", 100),
        ("learner", "quarantine", 100),
    ]
    assert entries[0].training_run is not None
    assert "rejected" in entries[0].reason

    honest = send(store, labels, [(f"ok{i}", texts[200 + i], true[200 + i]) for i in range(100)])
    trained_on = {c.correction_id for c in store.training_corrections(unused_only=False)}
    assert trained_on == set(honest), "the next training set excludes the quarantined flood"
    result = loop.maybe_run()
    assert result is not None
    assert result.corrections_used == 100
    assert result.deployed, result.report["failures"]
    assert result.quarantined == 0
    assert {statuses(store)[c] for c in honest} == {"active"}
    assert registry.deployed(store).version == result.version  # type: ignore[union-attr]
    assert [e.version for e in announcer.events] == [result.version]


def test_a_flood_arriving_during_training_is_not_held_with_the_run(
    store: Store, tmp_path: Path
) -> None:
    """Only the corrections a rejected run consumed are held: one stored after the run took
    its snapshot (or consumed by an earlier run) keeps its state."""
    store.add_decision(decision("t1", "cards"))
    store.add_decision(decision("t2", "cards"))
    early = correction("t1", "loans")
    late = correction("t2", "loans")
    store.add_correction(early, ["cards", "loans"])
    run_id = store.start_run(gold_rows=0, corrections_used=1)
    store.add_correction(late, ["cards", "loans"])
    held = corrections.quarantine_rejected_run(
        store, run_id, [early.correction_id], reason="run rejected"
    )
    assert held == 1
    assert statuses(store) == {early.correction_id: "quarantined", late.correction_id: "active"}
    assert store.unused_corrections_count() == 1

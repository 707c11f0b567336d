"""Managing stored corrections on real SQLite and PostgreSQL: idempotent re-sends, quarantine,
release and delete, each in the audit log (issue 10, point 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schemas.events import Correction
from store import (
    CorrectionOutcome,
    CorrectionsError,
    CorrectionsNotFound,
    Selection,
    Store,
    corrections,
)
from store.tables import CorrectionAuditRow, CorrectionRow
from tests.learner.events import LABELS, T0, decision


def stored(store: Store) -> dict[str, str]:
    with store.session() as session:
        rows = session.execute(select(CorrectionRow.correction_id, CorrectionRow.status))
        return {cid: status for cid, status in rows}


def audit_rows(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(CorrectionAuditRow)) or 0)


def fill(store: Store, n: int = 4, reviewer: str = "ana") -> list[str]:
    """``n`` decided tickets, each overridden once by ``reviewer``; returns the ids."""
    ids = []
    for i in range(n):
        store.add_decision(decision(f"{reviewer}-t{i}", "cards"))
        event = Correction(
            ticket_id=f"{reviewer}-t{i}", label="loans", reviewer=reviewer, action="override"
        )
        assert store.add_correction(event, LABELS) is CorrectionOutcome.stored
        ids.append(event.correction_id)
    return ids


def test_the_same_correction_sent_twice_is_stored_and_counted_once(store: Store) -> None:
    """Two sends a minute apart, no id given (what `triage correct` and the web build)."""
    store.add_decision(decision("t1", "cards"))
    first, again = (
        Correction(
            ticket_id="t1",
            label="loans",
            reviewer="ana",
            action="override",
            corrected_at=T0 + timedelta(minutes=m),
        )
        for m in (0, 1)
    )
    assert store.add_correction(first, LABELS) is CorrectionOutcome.stored
    assert store.add_correction(again, LABELS) is CorrectionOutcome.duplicate
    assert list(stored(store)) == [first.correction_id]
    assert store.unused_corrections_count() == 1
    other = Correction(ticket_id="t1", label="accounts", reviewer="ana", action="override")
    assert store.add_correction(other, LABELS) is CorrectionOutcome.stored, "a new label is new"


def test_quarantine_release_delete_each_recorded_in_the_audit_log(store: Store) -> None:
    ids = fill(store)
    assert store.unused_corrections_count() == 4

    held = corrections.quarantine(
        store, Selection(correction_ids=tuple(ids[:2])), actor="root", reason="looks random"
    )
    assert held is not None
    assert held.correction_ids == sorted(ids[:2])
    assert stored(store) == {ids[0]: "quarantined", ids[1]: "quarantined"} | {
        c: "active" for c in ids[2:]
    }
    assert store.unused_corrections_count() == 2
    assert {c.correction_id for c in store.training_corrections(unused_only=False)} == set(ids[2:])
    again = corrections.quarantine(
        store, Selection(correction_ids=(ids[0],)), actor="root", reason="twice"
    )
    assert again is None, "quarantining held corrections changes nothing and logs nothing"

    run_id = store.start_run(gold_rows=0, corrections_used=2)
    store.mark_used(run_id, ids[2:])
    released = corrections.release(
        store, Selection(correction_ids=(ids[0],)), actor="root", reason="checked: honest"
    )
    assert released is not None
    assert released.correction_ids == [ids[0]]
    assert store.unused_corrections_count() == 1, "released corrections count toward a retrain"

    deleted = corrections.delete_corrections(
        store, Selection(correction_ids=(ids[1],)), actor="root", reason="spam"
    )
    assert deleted.correction_ids == [ids[1]]
    assert ids[1] not in stored(store)
    assert deleted.details is not None
    assert deleted.details["rows"][0]["ticket_id"] == "ana-t1"
    assert deleted.details["rows"][0]["label"] == "loans"

    log = corrections.audit_log(store)
    assert [(e.action, e.actor, e.reason, e.correction_ids) for e in log] == [
        ("delete", "root", "spam", [ids[1]]),
        ("release", "root", "checked: honest", [ids[0]]),
        ("quarantine", "root", "looks random", sorted(ids[:2])),
    ]
    assert all(e.acted_at.tzinfo is not None for e in log)


def test_a_reviewer_or_a_run_can_be_selected(store: Store) -> None:
    ana, bob = fill(store, 2, "ana"), fill(store, 3, "bob")
    held = corrections.quarantine(store, Selection(reviewer="bob"), actor="root", reason="bot")
    assert held is not None
    assert held.correction_ids == sorted(bob)
    run_id = store.start_run(gold_rows=0, corrections_used=2)
    store.mark_used(run_id, ana)
    listed = corrections.list_corrections(store, run=run_id)
    assert {r.correction_id for r in listed} == set(ana)
    assert {r.correction_id for r in corrections.list_corrections(store, status="quarantined")} == (
        set(bob)
    )
    released = corrections.release(store, Selection(reviewer="bob"), actor="root", reason="ok")
    assert released is not None
    assert len(released.correction_ids) == 3


def test_bad_requests_are_refused_and_change_nothing(store: Store) -> None:
    ids = fill(store, 2)
    with pytest.raises(CorrectionsError, match="no corrections selected"):
        corrections.quarantine(store, Selection(), actor="root", reason="all")
    with pytest.raises(CorrectionsNotFound, match="no correction nope"):
        corrections.quarantine(
            store, Selection(correction_ids=(ids[0], "nope")), actor="root", reason="x"
        )
    with pytest.raises(CorrectionsError, match="reason is empty"):
        corrections.delete_corrections(
            store, Selection(correction_ids=(ids[0],)), actor="root", reason=" "
        )
    with pytest.raises(CorrectionsError, match="actor is empty"):
        corrections.release(store, Selection(correction_ids=(ids[0],)), actor="", reason="x")
    with pytest.raises(CorrectionsNotFound):
        corrections.delete_corrections(store, Selection(reviewer="zed"), actor="root", reason="x")
    assert set(stored(store).values()) == {"active"}
    assert audit_rows(store) == 0

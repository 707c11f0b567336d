"""The store on real SQLite and PostgreSQL: idempotent writes, outcomes, the trigger count."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC

import pytest
from sqlalchemy import func, select

from store import CorrectionOutcome, Store, StoreError
from store.tables import CorrectionRow, DecisionRow
from tests.learner.events import LABELS, T0, correction, decision


def count(store: Store, row: type[DecisionRow] | type[CorrectionRow]) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(row)) or 0)


def test_decision_is_stored_once_on_redelivery(store: Store) -> None:
    assert store.add_decision(decision("t1")) is True
    assert store.add_decision(decision("t1")) is False
    assert count(store, DecisionRow) == 1


def test_decision_text_is_redacted_and_times_are_utc(store: Store) -> None:
    store.add_decision(decision("t1", body="card 4111 1111 1111 1111 mail a@b.com"))
    with store.session() as session:
        row = session.scalars(select(DecisionRow)).one()
    assert "4111" not in row.text
    assert "a@b.com" not in row.text
    assert row.decided_at == T0
    assert row.decided_at.tzinfo is not None
    assert row.stored_at.tzinfo == UTC
    assert row.margin == pytest.approx(0.5)
    assert row.top_k[0] == {"label": "cards", "probability": 0.7}


def test_correction_redelivered_twice_is_stored_once(store: Store) -> None:
    store.add_decision(decision("t1", "cards"))
    event = correction("t1", "loans")
    outcomes = [store.add_correction(event, LABELS) for _ in range(3)]
    assert outcomes == [
        CorrectionOutcome.stored,
        CorrectionOutcome.duplicate,
        CorrectionOutcome.duplicate,
    ]
    assert count(store, CorrectionRow) == 1
    with store.session() as session:
        row = session.scalars(select(CorrectionRow)).one()
    assert (row.decided_label, row.decided_band, row.label) == ("cards", "shadow", "loans")


def test_concurrent_duplicate_deliveries_give_one_row(
    store_factory: Callable[[], Store],
) -> None:
    """Two workers (own engines, own connections) store the same events at the same moment."""
    first, second = store_factory(), store_factory()
    tickets = [f"t{i}" for i in range(5)]
    barrier = threading.Barrier(2)
    results: dict[str, list[tuple[bool, CorrectionOutcome]]] = {}
    errors: list[BaseException] = []

    def write(name: str, store: Store) -> None:
        try:
            barrier.wait()
            results[name] = [
                (
                    store.add_decision(decision(t)),
                    store.add_correction(correction(t, "loans", correction_id=f"race-{t}"), LABELS),
                )
                for t in tickets
            ]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(n, s)) for n, s in [("a", first), ("b", second)]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(first, DecisionRow) == len(tickets)
    assert count(first, CorrectionRow) == len(tickets)
    for (a_decision, a_correction), (b_decision, b_correction) in zip(
        results["a"], results["b"], strict=True
    ):
        assert {a_decision, b_decision} == {True, False}
        assert {a_correction, b_correction} == {
            CorrectionOutcome.stored,
            CorrectionOutcome.duplicate,
        }


def test_bad_corrections_get_an_outcome_and_no_row(store: Store) -> None:
    store.add_decision(decision("t1", "cards"))
    unknown_ticket = correction("nope", "loans")
    unknown_label = correction("t1", "pizza")
    contradicting = correction("t1", "loans", action="confirm")
    assert store.add_correction(unknown_ticket, LABELS) is CorrectionOutcome.unknown_ticket
    assert store.add_correction(unknown_label, LABELS) is CorrectionOutcome.unknown_label
    assert store.add_correction(contradicting, LABELS) is CorrectionOutcome.contradicts_decision
    assert count(store, CorrectionRow) == 0
    assert "nope" in CorrectionOutcome.unknown_ticket.reason(unknown_ticket)
    assert "pizza" in CorrectionOutcome.unknown_label.reason(unknown_label)


def test_unused_count_training_rows_and_mark_used(store: Store) -> None:
    for i in range(3):
        store.add_decision(decision(f"t{i}", body=f"ticket {i}"))
    store.add_correction(correction("t0", "loans", minutes=5), LABELS)
    store.add_correction(correction("t1", "cards", action="confirm", minutes=6), LABELS)
    store.add_correction(correction("t0", "accounts", reviewer="bo", minutes=7), LABELS)
    assert store.unused_corrections_count() == 3

    rows = store.training_corrections()
    assert [(r.ticket_id, r.label) for r in rows] == [
        ("t0", "loans"),
        ("t1", "cards"),
        ("t0", "accounts"),
    ]
    assert rows[1].text == "help\nticket 1"

    run_id = store.start_run(gold_rows=100, corrections_used=2)
    assert store.mark_used(run_id, [r.correction_id for r in rows[:2]]) == 2
    assert store.mark_used(run_id + 0, [rows[0].correction_id]) == 0  # already used
    assert store.unused_corrections_count() == 1
    assert [r.label for r in store.training_corrections()] == ["accounts"]
    store.finish_run(run_id, outcome="rejected", candidate_version="v2", report={"ok": False})
    with pytest.raises(StoreError, match="does not exist"):
        store.finish_run(run_id + 99, outcome="failed")


def test_open_rejects_an_unsupported_url() -> None:
    with pytest.raises(StoreError, match="supports sqlite and postgresql"):
        Store.open("mysql://u@h/db")
    with pytest.raises(StoreError, match="not a SQLAlchemy URL"):
        Store.open("not a url")

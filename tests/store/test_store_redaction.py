"""The store keeps no personal data: a decision's text and a reviewer's note are redacted
before they are written, whoever produced the event (issue 10: both were stored as sent)."""

from __future__ import annotations

from sqlalchemy import select

from store import Store
from store.tables import CorrectionRow, DecisionRow
from tests.learner.events import LABELS, correction, decision

BODY = (
    "charged on 4111.1111.1111.1111 and 5555\u00a05555\u00a05555\u00a04444, refund to "
    "gb82 west 1234 5698 7654 32, ssn 123 45 6789"
)
NOTE = "customer pasted 4111 1111 1111 1111 and asks for a reply at jo.doe@example.com"
SECRETS = ("4111", "5555", "4444", "gb82", "west", "123 45", "6789", "jo.doe", "example.com")


def leaked(text: str | None) -> list[str]:
    return [secret for secret in SECRETS if secret in (text or "").lower()]


def test_decision_text_and_correction_note_are_stored_redacted(store: Store) -> None:
    store.add_decision(decision("pii-1", "cards", body=BODY))
    note = correction("pii-1", "transfers").model_copy(update={"note": NOTE})
    assert store.add_correction(note, LABELS).value == "stored"
    with store.session() as session:
        text = session.scalar(select(DecisionRow.text).where(DecisionRow.ticket_id == "pii-1"))
        stored_note = session.scalar(select(CorrectionRow.note))
    assert leaked(text) == []
    assert text == "help\ncharged on [CARD] and [CARD], refund to [ACCOUNT], ssn [SSN]"
    assert stored_note == "customer pasted [CARD] and asks for a reply at [EMAIL]"
    assert [c.text for c in store.training_corrections()] == [text]


def test_a_correction_without_note_stays_without(store: Store) -> None:
    store.add_decision(decision("t1"))
    assert store.add_correction(correction("t1", "transfers"), LABELS).value == "stored"
    with store.session() as session:
        assert session.scalar(select(CorrectionRow.note)) is None

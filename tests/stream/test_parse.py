"""Intake: every kind of bad input gets a reason a person can act on."""

from __future__ import annotations

import pytest

from schemas.exceptions import InvalidEvent
from stream.parse import parse_ticket

LIMIT = 100


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "no value"),
        (b"\xff\xfe", "not valid UTF-8 (byte 0xff at position 0)"),
        (b"ticket 1: card lost", "not JSON"),
        (b"[1, 2]", "JSON array, not an object"),
        (b"null", "JSON null, not an object"),
        (b'"text"', "JSON string, not an object"),
        (b'{"body": "x"}', "ticket_id is missing"),
        (b'{"ticket_id": "a"}', "body is missing"),
        (b'{"ticket_id": 7, "body": "x"}', "ticket_id must be a string, got number"),
        (b'{"ticket_id": "a", "body": {"t": 1}}', "body must be a string, got dict"),
        (b'{"ticket_id": "a", "body": " \\n "}', "empty or whitespace"),
        (b'{"ticket_id": "  ", "body": "x"}', "ticket_id is blank"),
        (b'{"ticket_id": "a", "body": "' + b"\xc3\xa9" * 51 + b'"}', "102 bytes, over the 100"),
    ],
)
def test_bad_input_has_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_ticket(raw, max_body_bytes=LIMIT)
    assert reason in caught.value.reason


def test_valid_ticket_keeps_extra_fields() -> None:
    ticket = parse_ticket(
        b'{"ticket_id": "T-1", "body": "card lost", "subject": "help", "crm": {"tier": 2}}',
        max_body_bytes=LIMIT,
    )
    assert (ticket.ticket_id, ticket.text) == ("T-1", "help\ncard lost")
    assert ticket.model_extra == {"crm": {"tier": 2}}


def test_body_at_the_limit_is_accepted() -> None:
    body = "é" * 50  # 100 UTF-8 bytes
    assert (
        parse_ticket(f'{{"ticket_id": "a", "body": "{body}"}}'.encode(), max_body_bytes=LIMIT).body
        == body
    )

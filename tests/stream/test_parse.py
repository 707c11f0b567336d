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


# -- poison messages (issue 10): each of these once crashed the worker -----------------------


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (b"[" * 1000 + b"]" * 1000, "too_deep", "nested more than"),
        (
            b'{"ticket_id": "d", "body": "x", "metadata": ' + b'{"a": ' * 600 + b"1" + b"}" * 601,
            "too_deep",
            "nested more than",
        ),
        (b'{"ticket_id": "s", "body": "bad \\ud800 surrogate"}', "invalid_unicode", "\\ud800"),
        (b'{"ticket_id": "s", "body": "ok", "x": {"k\\udfff": 1}}', "invalid_unicode", "surrogate"),
        (b'{"ticket_id": "a", "ticket_id": "b", "body": "x"}', "duplicate_key", "appears twice"),
        (b"\x01\x02" * 100_000, "too_large", "over the 400-byte limit"),
    ],
)
def test_poison_input_is_refused_with_a_kind(raw: bytes, kind: str, reason: str) -> None:
    """The worker's real limits (64 KiB body): a 2 KB message must still be refused."""
    limit = LIMIT if kind == "too_large" else 64 * 1024
    with pytest.raises(InvalidEvent) as caught:
        parse_ticket(raw, max_body_bytes=limit)
    assert caught.value.kind == kind
    assert reason in caught.value.reason


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    body = "[" * 500 + "{" * 500
    ticket = parse_ticket(
        ('{"ticket_id": "q", "body": "' + body + '"}').encode(), max_body_bytes=10_000
    )
    assert ticket.body == body


def test_a_paired_surrogate_escape_is_valid_unicode() -> None:
    ticket = parse_ticket(
        b'{"ticket_id": "e", "body": "smile \\ud83d\\ude00"}', max_body_bytes=LIMIT
    )
    assert ticket.body == "smile \U0001f600"

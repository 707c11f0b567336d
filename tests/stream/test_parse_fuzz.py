"""Property-based fuzz of intake: whatever bytes arrive, parse_ticket returns a Ticket or raises
InvalidEvent with a kind and a reason; no other exception escapes (issue 10, point 6)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import DEAD_LETTER_KINDS, Ticket
from schemas.exceptions import InvalidEvent
from stream.parse import parse_ticket

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def check(raw: bytes) -> None:
    refused: InvalidEvent | None = None
    try:
        ticket = parse_ticket(raw, max_body_bytes=2000)
    except InvalidEvent as exc:
        refused = exc
    if refused is not None:
        assert refused.reason
        assert refused.kind in DEAD_LETTER_KINDS
    else:
        assert isinstance(ticket, Ticket)
        ticket.model_dump_json().encode("utf-8")  # what is stored must encode


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json(value: object) -> None:
    check(json.dumps(value).encode("utf-8"))


@settings(max_examples=400, deadline=None)
@given(
    st.text(min_size=1, max_size=40),
    st.text(max_size=400),
    st.dictionaries(st.text(max_size=10), json_values, max_size=3),
)
def test_ticket_shaped(ticket_id: str, body: str, extra: dict[str, object]) -> None:
    check(json.dumps({"ticket_id": ticket_id, "body": body, **extra}).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0xD800, max_value=0xDFFF), st.text(max_size=50))
def test_lone_surrogate_escapes(code: int, text: str) -> None:
    check(('{"ticket_id": "s", "body": "' + text.replace('"', "") + f'\\u{code:04x}"}}').encode())

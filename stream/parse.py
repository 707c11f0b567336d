"""Intake: raw bytes from ``tickets.incoming`` -> a valid :class:`Ticket`, or a reason why not.

The worker consumes raw bytes (no faust codec) so that every way an integration can get a
message wrong is caught here, with a reason a person can act on, instead of inside a codec
where faust would log and drop the message.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from schemas.events import Ticket
from schemas.exceptions import InvalidEvent

_EXPECTED = 'send a JSON object like {"ticket_id": "T-1", "body": "..."}'


def parse_ticket(raw: bytes | None, *, max_body_bytes: int) -> Ticket:
    """The ticket in ``raw``; raises :class:`InvalidEvent` with a reason for anything else."""
    if raw is None:
        raise InvalidEvent(f"message has no value (a tombstone); {_EXPECTED}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            f"payload is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start});"
            f" encode the ticket as UTF-8 JSON"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            f"payload is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); {_EXPECTED}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"payload is a JSON {_json_type(data)}, not an object; {_EXPECTED}")
    try:
        ticket = Ticket.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"ticket does not match the schema: {_explain(exc)}") from None
    size = len(ticket.body.encode("utf-8"))
    if size > max_body_bytes:
        raise InvalidEvent(
            f"body is {size:,} bytes, over the {max_body_bytes:,}-byte limit "
            f"(TRIAGE_MAX_BODY_BYTES); trim quoted history/attachments or raise the limit"
        )
    return ticket


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _explain(exc: ValidationError) -> str:
    """One clause per field problem, naming the field and what was wrong with it."""
    parts = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(loc) for loc in error["loc"]) or "ticket"
        if error["type"] == "missing":
            parts.append(f"{field} is missing")
        elif error["type"].endswith("_type"):
            got = _json_type(error.get("input"))
            parts.append(f"{field} must be a {error['type'].removesuffix('_type')}, got {got}")
        else:
            parts.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)

"""Intake: raw bytes from ``tickets.incoming`` -> a valid :class:`Ticket`, or a reason why not.

The worker consumes raw bytes (no faust codec) so that every way an integration can get a
message wrong is caught here, with a reason a person can act on, instead of inside a codec
where faust would log and drop the message. The checks run cheapest first, and the costly ones
only on input that passed the cheap ones: size before decoding, nesting depth before parsing
(a 2 KB message of 1,000 nested brackets once crashed the worker with RecursionError), then
duplicate keys (JSON would silently keep the last) and lone surrogates (valid JSON escapes that
no UTF-8 encoder accepts, so they would crash whatever stores the text later).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from schemas import InvalidEvent, Ticket

_EXPECTED = 'send a JSON object like {"ticket_id": "T-1", "body": "..."}'
#: Deepest nesting accepted: a ticket is an object with a metadata object; 32 is generous.
MAX_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_ticket(raw: bytes | None, *, max_body_bytes: int, max_message_bytes: int = 0) -> Ticket:
    """The ticket in ``raw``; raises :class:`InvalidEvent` with a reason for anything else.

    ``max_message_bytes`` bounds the whole message before any decoding (0: 4x the body limit,
    room for subject and metadata).
    """
    if raw is None:
        raise InvalidEvent(f"message has no value (a tombstone); {_EXPECTED}", "not_json")
    limit = max_message_bytes or 4 * max_body_bytes
    if len(raw) > limit:
        raise InvalidEvent(
            f"message is {len(raw):,} bytes, over the {limit:,}-byte limit "
            "(TRIAGE_MAX_MESSAGE_BYTES); trim quoted history/attachments or raise the limit",
            "too_large",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            f"payload is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start});"
            f" encode the ticket as UTF-8 JSON",
            "not_utf8",
        ) from None
    _check_depth(raw)
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            f"payload is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); {_EXPECTED}",
            "not_json",
        ) from None
    if _SURROGATE_ESCAPE.search(raw):
        _check_unicode(data, "ticket")
    if not isinstance(data, dict):
        raise InvalidEvent(
            f"payload is a JSON {_json_type(data)}, not an object; {_EXPECTED}", "not_json"
        )
    try:
        ticket = Ticket.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"ticket does not match the schema: {_explain(exc)}") from None
    size = len(ticket.body.encode("utf-8"))
    if size > max_body_bytes:
        raise InvalidEvent(
            f"body is {size:,} bytes, over the {max_body_bytes:,}-byte limit "
            f"(TRIAGE_MAX_BODY_BYTES); trim quoted history/attachments or raise the limit",
            "too_large",
        )
    return ticket


def _check_depth(raw: bytes) -> None:
    """Nesting depth counted on the brackets outside strings: linear, no recursion."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            raise InvalidEvent(
                f"JSON is nested more than {MAX_DEPTH} levels deep; send a flat ticket object "
                "(put structured data in metadata, at most a few levels deep)",
                "too_deep",
            )


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidEvent(
                f"key {key[:64]!r} appears twice in one object; JSON would keep only the last, "
                "so send each field once",
                "duplicate_key",
            )
        result[key] = value
    return result


def _check_unicode(value: Any, where: str) -> None:
    """Refuse lone surrogates (``\\ud800``): no UTF-8 encoder accepts them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidEvent(
                f"{where} holds an unpaired surrogate (\\u{ord(value[exc.start]):04x} at "
                f"character {exc.start}); send valid Unicode (pair the surrogates or drop them)",
                "invalid_unicode",
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key, where)
            _check_unicode(item, f"{where}.{key[:64]}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_unicode(item, f"{where}[{i}]")


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

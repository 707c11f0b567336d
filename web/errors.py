"""One error model for the whole JSON API, and the one place faults become HTTP answers.

Every refusal is ``{"code": ..., "message": ..., "field": ...}`` (:class:`ErrorOut`): ``code``
is one of :data:`ErrorCode` (stable, for programs), ``message`` says what was wrong and how to
put it right (for people), ``field`` names the part of the request at fault (``body.label``,
``query.band``) or is null. Routes raise domain errors (:data:`FAULTS` maps each to a status,
code and field), :class:`ApiError` for refusals of their own, or let validation fail; the
handlers here write the body, so no route builds an error response itself.

:func:`responses` documents the statuses an operation can answer with this body, so the
OpenAPI document says what each operation really sends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from models import ModelError
from store import CorrectionsError, CorrectionsNotFound
from web.exceptions import (
    AlreadyReviewed,
    BadHead,
    BadLabel,
    NotReviewable,
    PublishFailed,
    clip,
)
from web.try_model import UnknownVersion

log = logging.getLogger(__name__)

ErrorCode = Literal[
    "malformed_body",
    "unauthenticated",
    "forbidden",
    "csrf_failed",
    "not_found",
    "not_reviewable",
    "unknown_version",
    "unknown_corrections",
    "method_not_allowed",
    "already_reviewed",
    "body_too_large",
    "invalid",
    "unknown_label",
    "unknown_head",
    "thresholds_crossed",
    "rate_limited",
    "model_unavailable",
    "broker_unavailable",
    "internal",
]

#: The code of a refusal that names none of its own, by status.
STATUS_CODES: dict[int, ErrorCode] = {
    400: "malformed_body",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "already_reviewed",
    413: "body_too_large",
    422: "invalid",
    429: "rate_limited",
    503: "model_unavailable",
}

#: At most this many validation problems are listed in one message.
MAX_PROBLEMS = 5


class ErrorOut(BaseModel):
    """What every refusal of the API carries."""

    code: ErrorCode = Field(description="what went wrong, for programs; stable across releases")
    message: str = Field(description="what went wrong and how to put it right, for people")
    field: str | None = Field(
        None,
        description="the part of the request at fault, as location.name (body.label, "
        "query.band); null when no single part is",
    )


class ReviewedOut(ErrorOut):
    """409 on ``POST /api/decisions``: somebody reviewed the ticket first; theirs stands."""

    reviewer: str = Field(description="who reviewed the ticket first")


class ApiError(HTTPException):
    """A refusal a route makes itself: its status, code, message and the field at fault."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=dict(headers) if headers else None)
        self.code = code
        self.field = field


#: Domain errors a route may let escape: (status, code, field at fault).
FAULTS: dict[type[Exception], tuple[int, ErrorCode, str | None]] = {
    NotReviewable: (404, "not_reviewable", "body.ticket_id"),
    UnknownVersion: (404, "unknown_version", "body.model_version"),
    CorrectionsNotFound: (404, "unknown_corrections", "body.correction_ids"),
    AlreadyReviewed: (409, "already_reviewed", "body.ticket_id"),
    BadLabel: (422, "unknown_label", "body.label"),
    BadHead: (422, "unknown_head", "body.head"),
    CorrectionsError: (422, "invalid", None),
    ModelError: (503, "model_unavailable", None),
    PublishFailed: (503, "broker_unavailable", None),
}

#: What each status means on this API, for the OpenAPI document.
DESCRIPTIONS: dict[int, str] = {
    400: "The body is not JSON text (not UTF-8, or not JSON at all).",
    401: "No credentials, or ones nobody issued: sign in at /login or send "
    "`Authorization: Bearer <token>`.",
    403: "Signed in, but the role may not do this, or a cookie-borne write lacks the session's "
    "`X-CSRF-Token`.",
    404: "What the request names does not exist.",
    409: "Somebody reviewed this ticket first; the first review stands.",
    413: "The body is over `TRIAGE_WEB_MAX_BODY_BYTES`.",
    422: "The request breaks the schema or a rule the description states.",
    429: "Too many calls; `Retry-After` says when to try again.",
    503: "A dependency cannot answer now (no model deployed or readable, or the broker did not "
    "acknowledge); nothing was changed.",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


def responses(*statuses: int, **models: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the body it sends
    (:class:`ErrorOut`, or ``models["s409"]``-style overrides such as ``s409=ReviewedOut``)."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {
            "model": models.get(f"s{status}", ErrorOut),
            "description": DESCRIPTIONS[status],
        }
        if status in HEADERS:
            entry["headers"] = HEADERS[status]
        found[status] = entry
    return found


def answer(error: ApiError, **extra: str) -> JSONResponse:
    """Any refusal, ours or Starlette's put as an :class:`ApiError`, in the error model
    (``extra``: the fields a status's own model adds, such as :class:`ReviewedOut`'s)."""
    body = ErrorOut(code=error.code, message=error.detail, field=error.field).model_dump()
    headers = dict(error.headers) if error.headers else None
    return JSONResponse({**body, **extra}, error.status_code, headers)


async def http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's and our refusals (401, 403, 404, 405, 413, 429 ...) in the error model."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ApiError):
        return answer(exc)
    code = STATUS_CODES.get(exc.status_code, "invalid")
    message = str(exc.detail)
    if exc.status_code == 400:  # FastAPI's own, for a body it could not decode
        message = "the body is not UTF-8 JSON; send a JSON object (Content-Type: application/json)"
    return answer(ApiError(exc.status_code, code, message, headers=exc.headers))


def location(loc: Sequence[Any]) -> str:
    """``("body", "label")`` as ``body.label``; request-supplied names clipped."""
    return ".".join(clip(str(part), 40) for part in loc) or "request"


async def validation_error(_request: Request, exc: Exception) -> Response:
    """422 (or 400 for a body that is not JSON) naming the first field at fault; the message
    lists at most :data:`MAX_PROBLEMS` problems and never repeats a request value."""
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    if not problems:
        return answer(ApiError(422, "invalid", "the request is invalid"))
    first = problems[0]
    if first.get("type") == "json_invalid":
        why = clip(str(first.get("msg", "")), 200)
        return answer(
            ApiError(400, "malformed_body", f"the body is not JSON ({why}); send a JSON object")
        )
    said = [
        f"{location(p.get('loc', ()))}: {clip(str(p.get('msg', '')), 200)}"
        for p in problems[:MAX_PROBLEMS]
    ]
    more = len(problems) - len(said)
    message = "; ".join(said) + (f"; and {more} more" if more > 0 else "")
    return answer(ApiError(422, "invalid", message, field=location(first.get("loc", ()))))


async def domain_error(_request: Request, exc: Exception) -> Response:
    """A domain error a route let escape, answered by :data:`FAULTS`."""
    for kind in type(exc).__mro__:
        if kind in FAULTS:
            status, code, field = FAULTS[kind]
            break
    else:  # registered only for the keys of FAULTS
        raise exc
    if isinstance(exc, AlreadyReviewed):
        refusal = ApiError(status, code, f"already reviewed by {exc.reviewer}", field=field)
        return answer(refusal, reviewer=exc.reviewer)
    message = str(exc)
    if code == "model_unavailable":
        message = f"the model cannot answer now: {message}"
    if status == 503:  # one line, not a traceback per request
        log.warning("answering 503 %s: %s", code, message)
    return answer(ApiError(status, code, message, field=field))


async def server_error(_request: Request, exc: Exception) -> Response:
    """The last resort: the error model, no detail (the log has the traceback)."""
    return answer(ApiError(500, "internal", "the server failed; its log says why"))


def handlers() -> dict[Any, Any]:
    """Every exception handler of the app (``FastAPI(exception_handlers=handlers())``)."""
    found: dict[Any, Any] = {kind: domain_error for kind in FAULTS}
    found.update(
        {
            HTTPException: http_error,
            RequestValidationError: validation_error,
            Exception: server_error,
        }
    )
    return found

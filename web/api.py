"""The JSON API behind the pages; a ticketing system can pull the queue and decide through it.

Auth: ``Authorization: Bearer <token>`` (API clients) or the session cookie (the pages), in
which case every write must carry the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from models import ThresholdStatus
from schemas import CORRECTION_HEAD, Band, Correction, DriftSummary, HeadDecision
from store import REVIEW_BANDS
from web.auth import Principal, csrf_ok, principal
from web.errors import ApiError, ReviewedOut, responses
from web.metrics import CONTENT_TYPE, render
from web.review import Reviews

router = APIRouter()

#: The signed session cookie (Starlette's SessionMiddleware) the pages sign in with.
SESSION_COOKIE = "triage_session"
#: Declared for the OpenAPI document (``securitySchemes``); :func:`web.auth.principal` reads
#: both credentials itself, bearer first.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API token from `triage web new-token` (its SHA-256 in TRIAGE_WEB_TOKENS).",
    auto_error=False,
)
COOKIE = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="cookie",
    description="The session a sign-in at /login opens; writes also need `X-CSRF-Token`.",
    auto_error=False,
)
#: The bands a person reviews (``store.REVIEW_BANDS``): routed decisions never reach the queue.
ReviewBand = Literal["shadow", "manual"]
assert get_args(ReviewBand) == REVIEW_BANDS, "ReviewBand must list store.REVIEW_BANDS"


#: What ``str.strip`` removes, spelled out as a class so Python, pydantic and a client's
#: ECMAScript engine all read it alike (``\s`` differs between them).
WHITESPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Text that is empty or whitespace only. The schema says ``not`` this, which a fuzzer
#: generates from cheaply (a ``pattern`` demanding one non-blank character is 4x slower).
BLANK = f"^[{WHITESPACE}]*$"


def _not_blank(value: str) -> str:
    if re.fullmatch(f"[{WHITESPACE}]*", value) is not None:
        raise ValueError("is empty or whitespace only; type some text")
    return value


#: Request text that must say something; the rule is in the schema too.
SomeText = Annotated[
    str, AfterValidator(_not_blank), Field(json_schema_extra={"not": {"pattern": BLANK}})
]


#: Request bodies are read as their JSON Schema says: no "1" for 1, no true for 1 or "true".
JSON_BODY = ConfigDict(strict=True)


def integral(value: Any) -> Any:
    """JSON Schema counts 34.0 as an integer, which strict pydantic refuses: give an ``int``
    field of a :data:`JSON_BODY` ``BeforeValidator(integral)``, after its ``Field`` (so the
    schema keeps ``minimum``/``maximum``). "34", 34.5 and true are still refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def services(request: Request) -> Any:
    return request.app.state.services


async def signed_in(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    _cookie: Annotated[str | None, Depends(COOKIE)],
) -> Principal:
    found = await principal(request, services(request).directory, services(request).sessions)
    if found is None:
        raise ApiError(
            401,
            "unauthenticated",
            "sign in at /login or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def writer(
    request: Request,
    who: Annotated[Principal, Depends(signed_in)],
    x_csrf_token: Annotated[
        str | None,
        Header(
            alias="X-CSRF-Token",
            description="the session's CSRF token (the page's csrf-token meta): required with "
            "the session cookie, ignored with a bearer token",
        ),
    ] = None,
) -> Principal:
    """A principal allowed to change state, CSRF-checked if cookie-borne (any role)."""
    if who.via == "session" and not csrf_ok(request, x_csrf_token):
        raise ApiError(
            403,
            "csrf_failed",
            "missing or wrong CSRF token; reload the page and try again",
            field="header.X-CSRF-Token",
        )
    return who


def reviewer(who: Annotated[Principal, Depends(writer)]) -> Principal:
    """A principal allowed to review: the reviewer role (and CSRF-checked if cookie-borne)."""
    if not who.can_review:
        raise ApiError(403, "forbidden", f"{who.name} has the {who.role} role, which cannot review")
    return who


class TopScore(BaseModel):
    label: str
    probability: float


class QueueItemOut(BaseModel):
    """:class:`store.QueueItem` as JSON (``QueueItem.as_dict``, the shape the CLI prints too)."""

    ticket_id: str
    text: str = Field(description="subject and body as stored (personal data redacted)")
    label: str
    confidence: float
    margin: float = Field(description="top-1 minus top-2 probability; the queue's order")
    band: Band
    model_version: str
    decided_at: str
    top_k: list[TopScore] = Field(description="every label score the worker published")
    top3: list[TopScore]
    heads: dict[str, HeadDecision] = Field(
        default_factory=dict,
        description="every head beyond the primary one (a hierarchy's child head), by name",
    )
    reviewed_heads: list[str] = Field(
        default_factory=list, description="the heads somebody corrected already"
    )
    least_certain_head: str = Field(
        CORRECTION_HEAD, description="the head whose margin is the queue's order"
    )


class HeadOut(BaseModel):
    """One head of the deployed model, as the review page offers it."""

    labels: list[str] = Field(description="what a correction of this head may name, sorted")
    parent_head: str | None = Field(description="the head this one sits under (null: the top)")
    parent_of: dict[str, str] | None = Field(
        None, description="child label -> its parent's label (a hierarchy's child head)"
    )
    multilabel: bool = Field(
        False, description="a correction of this head names a set (`labels`), not one label"
    )


class DecideIn(BaseModel):
    model_config = JSON_BODY

    ticket_id: str = Field(min_length=1, max_length=256)
    label: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="the decided label confirms, another overrides (every head but a "
        "multi-label one)",
    )
    labels: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None,
        max_length=200,
        description="a multi-label head's whole set (GET /api/heads: multilabel): the decided "
        "set confirms, another overrides; [] says none of its labels applies",
    )
    note: str | None = Field(None, max_length=2000)
    head: str = Field(
        CORRECTION_HEAD,
        min_length=1,
        max_length=64,
        description="the head the label is for (GET /api/heads); omitted, the primary one",
    )


#: Statuses every operation behind :func:`signed_in` may answer.
SIGNED_IN = (401, 422)
#: ... and every write: a body that is no JSON, too big, or a cookie without its CSRF token.
WRITE = (*SIGNED_IN, 400, 403, 413)
#: The queue's first item confirmed as decided: the stateful phase of a fuzzer, or a client
#: working through the queue, goes from the listing to the decision.
CONFIRM_FIRST = {
    "operationId": "decide",
    "description": "confirm the first queued decision as the model decided it",
    "requestBody": {"ticket_id": "$response.body#/0/ticket_id", "label": "$response.body#/0/label"},
}
QUEUE_OF_FIRST_LABEL = {
    "operationId": "queue",
    "description": "the queue of the first label",
    "parameters": {"label": "$response.body#/0"},
}


@router.get(
    "/api/queue",
    operation_id="queue",
    response_model=list[QueueItemOut],
    tags=["review"],
    responses={200: {"links": {"ConfirmFirst": CONFIRM_FIRST}}, **responses(*SIGNED_IN)},
)
async def api_queue(
    request: Request,
    _who: Annotated[Principal, Depends(signed_in)],
    n: Annotated[int, Query(ge=1, le=200, description="at most this many")] = 50,
    band: Annotated[ReviewBand | None, Query(description="only this band")] = None,
    label: Annotated[str | None, Query(max_length=200, description="only this label")] = None,
    model_version: Annotated[
        str | None, Query(max_length=128, description="only this model version's decisions")
    ] = None,
) -> list[dict[str, Any]]:
    """Shadow and manual decisions nobody reviewed yet, most uncertain first."""
    items = await services(request).reviews.queue(
        n, band=band, label=label or None, model_version=model_version or None
    )
    return [item.as_dict() for item in items]


@router.get(
    "/api/labels",
    operation_id="labels",
    response_model=list[str],
    tags=["review"],
    responses={200: {"links": {"QueueOfFirst": QUEUE_OF_FIRST_LABEL}}, **responses(401, 503)},
)
async def api_labels(request: Request, _who: Annotated[Principal, Depends(signed_in)]) -> list[str]:
    """The labels a decision may name (the deployed model's), in keyboard-shortcut order.

    503 when no model is deployed or its directory cannot be read."""
    labels = await asyncio.to_thread(services(request).reviews.labels)
    return sorted(labels)


@router.get(
    "/api/heads",
    operation_id="heads",
    response_model=dict[str, HeadOut],
    tags=["review"],
    responses=responses(401, 503),
)
async def api_heads(
    request: Request, _who: Annotated[Principal, Depends(signed_in)]
) -> dict[str, Any]:
    """Every head of the deployed model (the primary ``label`` first) with its labels.

    503 when no model is deployed or its directory cannot be read."""
    described: dict[str, Any] = await asyncio.to_thread(services(request).reviews.describe)
    return described


@router.post(
    "/api/decisions",
    operation_id="decide",
    response_model=Correction,
    tags=["review"],
    responses=responses(*WRITE, 404, 409, 503, s409=ReviewedOut),
)
async def api_decide(
    request: Request, body: DecideIn, who: Annotated[Principal, Depends(reviewer)]
) -> Correction:
    """Confirm or override one decision; published as a Correction once the broker acks it.

    404 (`not_reviewable`) unless the ticket is in the review queue; 422 (`unknown_head`)
    unless the head is one of GET /api/heads that the ticket's decision has; 422
    (`unknown_label`) unless the label is one of that head's (GET /api/labels: the primary
    head's), or if the head takes the other of `label` and `labels` (a multi-label head takes
    its whole set); the first reviewer of a ticket's head wins, a later one gets 409 naming who
    it was; 503 when no model is deployed or the broker did not ack.
    """
    reviews: Reviews = services(request).reviews
    return await reviews.decide(
        who.name, body.ticket_id, body.label, body.note, body.head, body.labels
    )


class DashboardOut(BaseModel):
    """The dashboard's JSON; the fields typed here are the per-class thresholds and drift (the
    older ones are passed through as the store shapes them)."""

    model_config = ConfigDict(extra="allow")

    thresholds: ThresholdStatus | None = Field(
        description="per class, would-route precision and how far from switching on, by the "
        "rule of the set in force; stale while a worker of the deployed model reports drift; "
        "null when no model is deployed"
    )
    drift: list[DriftSummary] = Field(
        description="each live worker's drift window (refreshed every 10 s, gone 30 s after "
        "the worker stops)"
    )


@router.get(
    "/api/dashboard",
    operation_id="dashboard",
    tags=["ops"],
    response_model=DashboardOut,
    responses=responses(401),
)
async def api_dashboard(
    request: Request, _who: Annotated[Principal, Depends(signed_in)]
) -> dict[str, Any]:
    """Lag, throughput, latency, band shares and precision, models, runs, dead letters, the
    per-class thresholds and the workers' drift."""
    result: dict[str, Any] = await services(request).dashboard()
    return result


@router.get(
    "/metrics",
    operation_id="metrics",
    tags=["ops"],
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text format. Read-only aggregates (no ticket text), so scrapers need no auth."""
    snapshot = await services(request).metrics()
    return Response(render(snapshot), media_type=CONTENT_TYPE)


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    ready: bool
    failing: list[str] = Field(description="the checks that failed")
    checks: dict[str, str] = Field(description="each check's answer: ok, or why it failed")


@router.get("/healthz", operation_id="healthz", tags=["ops"])
async def healthz() -> HealthOut:
    """The process serves (no dependency is asked)."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    tags=["ops"],
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "a dependency does not answer"}},
)
async def readyz(request: Request) -> JSONResponse:
    """503 naming the dependency that does not answer (database, redis, broker, model)."""
    ready, report = await services(request).readiness()
    failing = [name for name, status in report.items() if not status.startswith("ok")]
    body = ReadyOut(ready=ready, failing=failing, checks=report)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

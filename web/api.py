"""The JSON API behind the pages; a ticketing system can pull the queue and decide through it.

Auth: ``Authorization: Bearer <token>`` (API clients) or the session cookie (the pages), in
which case every write must carry the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from schemas import Band, Correction
from web.auth import CSRF_HEADER, Principal, csrf_ok, principal
from web.exceptions import AlreadyReviewed, BadLabel, NotReviewable, PublishFailed
from web.metrics import CONTENT_TYPE, render

router = APIRouter()


def services(request: Request) -> Any:
    return request.app.state.services


async def signed_in(request: Request) -> Principal:
    found = await principal(request, services(request).directory, services(request).sessions)
    if found is None:
        raise HTTPException(
            401,
            "sign in at /login or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def reviewer(request: Request, who: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """A principal allowed to change state: reviewer role, and CSRF-checked if cookie-borne."""
    if who.via == "session" and not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
    if not who.can_review:
        raise HTTPException(403, f"{who.name} has the {who.role} role, which cannot review")
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


class DecideIn(BaseModel):
    ticket_id: str = Field(min_length=1, max_length=256)
    label: str = Field(
        min_length=1, max_length=200, description="the decided label confirms, another overrides"
    )
    note: str | None = Field(None, max_length=2000)


class ReviewedError(BaseModel):
    detail: str
    reviewer: str


@router.get("/api/queue", response_model=list[QueueItemOut], tags=["review"])
async def api_queue(
    request: Request,
    _who: Annotated[Principal, Depends(signed_in)],
    n: Annotated[int, Query(ge=1, le=200)] = 50,
    band: Band | None = None,
    label: str | None = None,
    model_version: str | None = None,
) -> list[dict[str, Any]]:
    """Shadow and manual decisions nobody reviewed yet, most uncertain first."""
    if band == "routed":
        raise HTTPException(422, "band 'routed' is not reviewed; use shadow or manual")
    items = await services(request).reviews.queue(
        n, band=band, label=label or None, model_version=model_version or None
    )
    return [item.as_dict() for item in items]


@router.get("/api/labels", response_model=list[str], tags=["review"])
async def api_labels(request: Request, _who: Annotated[Principal, Depends(signed_in)]) -> list[str]:
    """The labels a decision may name (the deployed model's), in keyboard-shortcut order."""
    return sorted(services(request).reviews.labels())


@router.post(
    "/api/decisions",
    response_model=Correction,
    tags=["review"],
    responses={409: {"model": ReviewedError}, 404: {}, 422: {}, 503: {}},
)
async def api_decide(
    request: Request, body: DecideIn, who: Annotated[Principal, Depends(reviewer)]
) -> Any:
    """Confirm or override one decision; published as a Correction once the broker acks it.

    The first reviewer of a ticket wins; a later one gets 409 naming who it was.
    """
    reviews = services(request).reviews
    try:
        return await reviews.decide(who.name, body.ticket_id, body.label, body.note)
    except AlreadyReviewed as exc:
        return JSONResponse(
            {"detail": f"already reviewed by {exc.reviewer}", "reviewer": exc.reviewer}, 409
        )
    except NotReviewable as exc:
        raise HTTPException(404, str(exc)) from exc
    except BadLabel as exc:
        raise HTTPException(422, str(exc)) from exc
    except PublishFailed as exc:
        raise HTTPException(503, str(exc)) from exc


@router.get("/api/dashboard", tags=["ops"])
async def api_dashboard(
    request: Request, _who: Annotated[Principal, Depends(signed_in)]
) -> dict[str, Any]:
    """Lag, throughput, latency, band shares and precision, models, runs, dead letters."""
    result: dict[str, Any] = await services(request).dashboard()
    return result


@router.get("/metrics", tags=["ops"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format. Read-only aggregates (no ticket text), so scrapers need no auth."""
    snapshot = await services(request).metrics()
    return Response(render(snapshot), media_type=CONTENT_TYPE)


@router.get("/healthz", tags=["ops"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"])
async def readyz(request: Request) -> JSONResponse:
    """503 naming the dependency that does not answer (database, redis, broker, model)."""
    ready, report = await services(request).readiness()
    failing = [name for name, status in report.items() if not status.startswith("ok")]
    body = {"ready": ready, "failing": failing, "checks": report}
    return JSONResponse(body, status_code=200 if ready else 503)

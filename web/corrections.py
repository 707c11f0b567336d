"""Correction management for admins: what ``triage corrections`` does, over the JSON API.

Admin role only, for reading too: the list names reviewers and what each taught the model,
and the audit log names who held or deleted whose work. Writes need the session's CSRF token
when cookie-borne, as every other write does. Unlike the review routes, these write the store
directly (through :class:`store.Store`): the change is to the learner's record itself,
not a reviewer's event the recorder must see, and it must be done when the response says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from store import AuditEntry, CorrectionsError, CorrectionsNotFound, Selection, Store
from web.api import services, signed_in
from web.auth import CSRF_HEADER, Principal, csrf_ok

router = APIRouter(prefix="/api/corrections", tags=["corrections"])

#: Most ids one request may name; more is a script's job (``triage corrections``).
MAX_IDS = 10_000


def admin(who: Annotated[Principal, Depends(signed_in)]) -> Principal:
    if who.role != "admin":
        raise HTTPException(
            403, f"{who.name} has the {who.role} role; managing corrections needs admin"
        )
    return who


def admin_writer(request: Request, who: Annotated[Principal, Depends(admin)]) -> Principal:
    """An admin allowed to change state: CSRF-checked if cookie-borne."""
    if who.via == "session" and not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
    return who


class ChangeIn(BaseModel):
    """Which corrections (ids, a run's, a reviewer's: combined with AND) and why."""

    correction_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=MAX_IDS
    )
    run: int | None = Field(None, description="corrections consumed (or held) by this run")
    reviewer: str | None = Field(None, min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=2000, description="why, for the audit log")

    def selection(self) -> Selection:
        return Selection(
            correction_ids=tuple(self.correction_ids), run=self.run, reviewer=self.reviewer
        )


class ChangeOut(BaseModel):
    changed: list[str]
    audit_id: int | None = Field(description="the audit log entry; null when nothing changed")


@router.get("")
async def list_corrections(
    request: Request,
    _who: Annotated[Principal, Depends(admin)],
    status: Literal["active", "quarantined"] | None = None,
    run: int | None = None,
    reviewer: Annotated[str | None, Query(max_length=256)] = None,
    ticket_id: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Stored corrections, newest first."""
    store: Store = services(request).store
    records = await asyncio.to_thread(
        store.list_corrections,
        status=status,
        run=run,
        reviewer=reviewer,
        ticket_id=ticket_id,
        limit=limit,
    )
    return [r.as_dict() for r in records]


@router.get("/audit")
async def audit(
    request: Request,
    _who: Annotated[Principal, Depends(admin)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Who quarantined, released or deleted which corrections, when and why; newest first."""
    store: Store = services(request).store
    entries = await asyncio.to_thread(store.audit_log, limit=limit)
    return [e.as_dict() for e in entries]


async def _change(request: Request, action: str, body: ChangeIn, who: Principal) -> ChangeOut:
    store: Store = services(request).store
    verbs: dict[str, Callable[..., AuditEntry | None]] = {
        "quarantine": store.quarantine,
        "release": store.release,
        "delete": store.delete_corrections,
    }
    try:
        entry = await asyncio.to_thread(
            verbs[action],
            body.selection(),
            actor=who.name,
            reason=body.reason,
        )
    except CorrectionsNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except CorrectionsError as exc:
        raise HTTPException(422, str(exc)) from exc
    if entry is None:
        return ChangeOut(changed=[], audit_id=None)
    return ChangeOut(changed=entry.correction_ids, audit_id=entry.id)


@router.post("/quarantine", response_model=ChangeOut)
async def quarantine(
    request: Request, body: ChangeIn, who: Annotated[Principal, Depends(admin_writer)]
) -> ChangeOut:
    """Hold corrections out of training and the retrain count until released."""
    return await _change(request, "quarantine", body, who)


@router.post("/release", response_model=ChangeOut)
async def release(
    request: Request, body: ChangeIn, who: Annotated[Principal, Depends(admin_writer)]
) -> ChangeOut:
    """Return quarantined corrections to training; they count toward the next retrain."""
    return await _change(request, "release", body, who)


@router.post("/delete", response_model=ChangeOut)
async def delete(
    request: Request, body: ChangeIn, who: Annotated[Principal, Depends(admin_writer)]
) -> ChangeOut:
    """Delete corrections for good; the audit entry keeps what they said (not their notes)."""
    return await _change(request, "delete", body, who)

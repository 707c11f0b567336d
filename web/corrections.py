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
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, model_validator
from starlette.requests import Request

from store import AuditEntry, Selection, Store
from web.api import JSON_BODY, SIGNED_IN, WRITE, SomeText, integral, services, signed_in, writer
from web.auth import Principal
from web.errors import ApiError, responses

router = APIRouter(prefix="/api/corrections", tags=["corrections"])

#: Most ids one request may name; more is a script's job (``triage corrections``).
MAX_IDS = 10_000


#: ``training_runs.id`` is an INTEGER column (32 bits on PostgreSQL): no run has a larger id.
MAX_RUN_ID = 2**31 - 1
#: A training run's id, as a request may name it.
RunId = Annotated[int, Field(ge=1, le=MAX_RUN_ID), BeforeValidator(integral)]
#: Statuses of every operation here (admin only), and of the writes.
READ = (*SIGNED_IN, 403)
CHANGE = (*WRITE, 404)


def _refuse_unless_admin(who: Principal) -> Principal:
    if who.role != "admin":
        raise ApiError(
            403,
            "forbidden",
            f"{who.name} has the {who.role} role; managing corrections needs admin",
        )
    return who


def admin(who: Annotated[Principal, Depends(signed_in)]) -> Principal:
    return _refuse_unless_admin(who)


def admin_writer(who: Annotated[Principal, Depends(writer)]) -> Principal:
    """An admin allowed to change state: CSRF-checked if cookie-borne."""
    return _refuse_unless_admin(who)


#: A selection names something: ids, a run or a reviewer (the JSON Schema of the same rule).
NAMES_SOMETHING: list[JsonValue] = [
    {"required": ["correction_ids"], "properties": {"correction_ids": {"minItems": 1}}},
    {"required": ["run"], "properties": {"run": {"type": "integer"}}},
    {"required": ["reviewer"], "properties": {"reviewer": {"type": "string"}}},
]


class ChangeIn(BaseModel):
    """Which corrections (ids, a run's, a reviewer's: combined with AND; at least one) and why."""

    model_config = ConfigDict(**JSON_BODY, json_schema_extra={"anyOf": NAMES_SOMETHING})

    correction_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=MAX_IDS
    )
    run: RunId | None = Field(None, description="corrections consumed (or held) by this run")
    reviewer: str | None = Field(None, min_length=1, max_length=256)
    reason: SomeText = Field(min_length=1, max_length=2000, description="why, for the audit log")

    @model_validator(mode="after")
    def names_something(self) -> ChangeIn:
        if self.selection().empty:
            raise ValueError(
                "no corrections selected; name correction_ids, a run or a reviewer "
                "(GET /api/corrections lists them)"
            )
        return self

    def selection(self) -> Selection:
        return Selection(
            correction_ids=tuple(self.correction_ids), run=self.run, reviewer=self.reviewer
        )


class ChangeOut(BaseModel):
    changed: list[str]
    audit_id: int | None = Field(description="the audit log entry; null when nothing changed")


@dataclass(frozen=True)
class Change:
    """One of the changes an admin makes to stored corrections: ``POST /api/corrections/<verb>``,
    done by the store's method of the same effect (see each ``doc``)."""

    verb: str
    operation_id: str
    act: Callable[..., AuditEntry | None]
    doc: str

    def link(self) -> dict[str, Any]:
        """An OpenAPI link from the listing to this change on its first correction."""
        return {
            "operationId": self.operation_id,
            "description": f"{self.verb} the first listed correction",
            "requestBody": {
                "correction_ids": ["$response.body#/0/correction_id"],
                "reason": f"{self.verb} through the link from the listing",
            },
        }


CHANGES = (
    Change(
        "quarantine",
        "quarantine",
        Store.quarantine,
        "Hold corrections out of training and the retrain count until released.",
    ),
    Change(
        "release",
        "release",
        Store.release,
        "Return quarantined corrections to training; they count toward the next retrain.",
    ),
    Change(
        "delete",
        "delete_corrections",
        Store.delete_corrections,
        "Delete corrections for good (404 when the selection matches none); the audit entry "
        "keeps\nwhat they said (not their notes).",
    ),
)
LINKS = {f"{change.verb.title()}First": change.link() for change in CHANGES}


@router.get(
    "",
    operation_id="list_corrections",
    responses={200: {"links": LINKS}, **responses(*READ)},
)
async def list_corrections(
    request: Request,
    _who: Annotated[Principal, Depends(admin)],
    status: Literal["active", "quarantined"] | None = None,
    run: Annotated[int | None, Query(ge=1, le=MAX_RUN_ID)] = None,
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


@router.get("/audit", operation_id="audit", responses=responses(*READ))
async def audit(
    request: Request,
    _who: Annotated[Principal, Depends(admin)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Who quarantined, released or deleted which corrections, when and why; newest first."""
    store: Store = services(request).store
    entries = await asyncio.to_thread(store.audit_log, limit=limit)
    return [e.as_dict() for e in entries]


def _add_change_route(change: Change) -> None:
    """``POST /api/corrections/<verb>``; 404 (``unknown_corrections``) when a named id is not
    stored."""

    async def route(
        request: Request, body: ChangeIn, who: Annotated[Principal, Depends(admin_writer)]
    ) -> ChangeOut:
        store: Store = services(request).store
        entry = await asyncio.to_thread(
            change.act, store, body.selection(), actor=who.name, reason=body.reason
        )
        if entry is None:
            return ChangeOut(changed=[], audit_id=None)
        return ChangeOut(changed=entry.correction_ids, audit_id=entry.id)

    router.add_api_route(
        f"/{change.verb}",
        route,
        methods=["POST"],
        name=change.verb,
        operation_id=change.operation_id,
        description=change.doc,
        response_model=ChangeOut,
        responses=responses(*CHANGE),
    )


for _change in CHANGES:
    _add_change_route(_change)

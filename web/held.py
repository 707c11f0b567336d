"""Second review over the JSON API: held corrections, and a reviewer's verdict on one.

A correction the deciding model was confidently against is stored held (``store.holds``): it
trains only once a second reviewer confirms it. Reading the list needs any sign-in; a verdict
needs the reviewer role, and nobody judges their own correction (the store refuses it). Unlike
a review, a verdict writes the store directly: it changes a stored correction's status, and
must be checked against that status (still held, someone else's) in the same transaction, so
that two second reviewers racing get one verdict and a clear refusal, and the answer can say
at once whether the first reviewer is now flagged.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from store import NotHeld, OwnCorrection, Store
from web.api import JSON_BODY, SIGNED_IN, WRITE, reviewer, services, signed_in
from web.auth import Principal
from web.errors import ApiError, responses

router = APIRouter(prefix="/api/held", tags=["review"])

#: From the list to a verdict: a client (or the fuzzer's stateful phase) judges what it read.
CONFIRM_FIRST_HELD = {
    "operationId": "judge_held",
    "description": "confirm the first held correction",
    "requestBody": {"correction_id": "$response.body#/0/correction_id", "verdict": "confirm"},
}


class HeldOut(BaseModel):
    """:class:`store.HeldCorrection` as JSON."""

    correction_id: str
    ticket_id: str
    text: str = Field(description="subject and body as stored (personal data redacted)")
    label: str = Field(description="the label the first reviewer gave")
    reviewer: str = Field(description="who gave it")
    decided_label: str = Field(description="what the model decided")
    hold_label: str | None = Field(
        description="the model's label when it objected; null when held because the reviewer "
        "is flagged"
    )
    hold_against: float | None = Field(
        description="the model's probability that the reviewer's label is wrong"
    )
    corrected_at: str
    held_at: str


class VerdictIn(BaseModel):
    model_config = JSON_BODY

    correction_id: str = Field(min_length=1, max_length=128)
    verdict: Literal["confirm", "overturn"] = Field(
        description="confirm: it trains like any correction; overturn: it never trains"
    )
    note: str | None = Field(None, max_length=2000, description="why, for the audit log")


class VerdictOut(BaseModel):
    correction_id: str
    verdict: Literal["confirm", "overturn"]
    judged_by: str
    reviewer: str = Field(description="who sent the judged correction")
    reviewer_flagged: bool = Field(
        description="the first reviewer is flagged now: every correction of theirs is held"
    )


@router.get("", operation_id="held", response_model=list[HeldOut], responses=responses(*SIGNED_IN))
async def api_held(
    request: Request,
    who: Annotated[Principal, Depends(signed_in)],
    n: Annotated[int, Query(ge=1, le=200, description="at most this many")] = 50,
) -> list[dict[str, Any]]:
    """Held corrections waiting for a second reviewer, oldest first; the caller's own are
    left out (they cannot judge them)."""
    store: Store = services(request).store
    held = await asyncio.to_thread(store.held_corrections, exclude_reviewer=who.name, limit=n)
    return [item.as_dict() for item in held]


@router.post(
    "/verdict",
    operation_id="judge_held",
    response_model=VerdictOut,
    responses=responses(*WRITE, 404, 409),
)
async def api_verdict(
    request: Request, body: VerdictIn, who: Annotated[Principal, Depends(reviewer)]
) -> VerdictOut:
    """Confirm or overturn one held correction. 404 (`unknown_corrections`) when no correction
    has that id; 409 (`already_reviewed`) when it is not held (judged already, or never held);
    403 (`forbidden`) when it is the caller's own."""
    store: Store = services(request).store
    rule = services(request).flag_rule

    def judge() -> VerdictOut:
        try:
            judged = store.judge_held(
                body.correction_id,
                verdict=body.verdict,
                reviewer=who.name,
                rule=rule,
                reason=body.note or "",
            )
        except OwnCorrection as exc:
            raise ApiError(403, "forbidden", str(exc), field="body.correction_id") from exc
        except NotHeld as exc:
            raise ApiError(409, "already_reviewed", str(exc), field="body.correction_id") from exc
        return VerdictOut.model_validate(judged, from_attributes=True)

    return await asyncio.to_thread(judge)

"""Builders of decisions and corrections for learner tests (plain functions, not fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from schemas.events import Band, Correction, Decision, HeadDecision, LabelScore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LABELS = ("cards", "transfers", "accounts", "loans")


def decision(
    ticket_id: str,
    label: str = "cards",
    *,
    p1: float = 0.7,
    p2: float = 0.2,
    runner_up: str | None = None,
    band: Band = "shadow",
    model_version: str = "v1",
    minutes: int = 0,
    body: str = "my card was declined",
) -> Decision:
    second = runner_up or next(lab for lab in LABELS if lab != label)
    return Decision(
        ticket_id=ticket_id,
        label=label,
        confidence=p1,
        band=band,
        top_k=[LabelScore(label=label, probability=p1), LabelScore(label=second, probability=p2)],
        model_version=model_version,
        decided_at=T0 + timedelta(minutes=minutes),
        subject="help",
        body=body,
    )


#: a hierarchy's child head (intent) under the primary head (team, ``LABELS``)
INTENTS = {"cards": ("card_arrival", "card_declined"), "loans": ("loan_rate", "loan_late")}
HEAD_LABELS = {"label": LABELS, "intent": tuple(i for kids in INTENTS.values() for i in kids)}


def headed(
    ticket_id: str,
    label: str = "cards",
    intent: str = "card_arrival",
    *,
    q1: float = 0.6,
    q2: float = 0.4,
    runner_up: str | None = None,
    intent_band: Band = "manual",
    **fields: Any,
) -> Decision:
    """:func:`decision` of a hierarchy model: the primary head plus its child head ``intent``
    (``q1``/``q2``: the intent's top two, given the team)."""
    second = runner_up or next(i for i in HEAD_LABELS["intent"] if i != intent)
    child = HeadDecision(
        label=intent,
        confidence=q1,
        band=intent_band,
        parent_head="label",
        top_k=[LabelScore(label=intent, probability=q1), LabelScore(label=second, probability=q2)],
    )
    return decision(ticket_id, label, **fields).model_copy(update={"heads": {"intent": child}})


def correction(
    ticket_id: str,
    label: str,
    *,
    action: Literal["confirm", "override"] = "override",
    correction_id: str | None = None,
    reviewer: str = "ana",
    minutes: int = 60,
    head: str = "label",
) -> Correction:
    return Correction(
        correction_id=correction_id
        or f"c-{ticket_id}-{'' if head == 'label' else head + '-'}{reviewer}-{label}-{minutes}",
        ticket_id=ticket_id,
        label=label,
        head=head,
        reviewer=reviewer,
        action=action,
        corrected_at=T0 + timedelta(minutes=minutes),
    )

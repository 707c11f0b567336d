"""Builders of decisions for web tests (plain functions); labels are the sample's teams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import Band, Decision, HeadDecision, LabelScore

HOSTILE_BODY = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def decision(
    ticket_id: str,
    label: str = "cards",
    *,
    p1: float = 0.7,
    p2: float = 0.2,
    runner_up: str = "transfers",
    band: Band = "shadow",
    latency_s: float = 0.5,
    body: str = "my card was declined at the shop",
    subject: str | None = "card problem",
    model_version: str = "v1",
) -> Decision:
    decided_at = datetime.now(UTC)
    return Decision(
        ticket_id=ticket_id,
        label=label,
        confidence=p1,
        band=band,
        top_k=[
            LabelScore(label=label, probability=p1),
            LabelScore(label=runner_up, probability=p2),
            LabelScore(label="fx", probability=max(0.0, 1 - p1 - p2)),
        ],
        model_version=model_version,
        decided_at=decided_at,
        received_at=decided_at - timedelta(seconds=latency_s),
        subject=subject,
        body=body,
    )


def headed(
    ticket_id: str,
    intent: str = "card_arrival",
    *,
    q1: float = 0.52,
    q2: float = 0.40,
    runner_up: str = "card_linking",
    **fields: Any,
) -> Decision:
    """:func:`decision` of the sample's team -> intent hierarchy: team ``cards`` (primary) and
    its child head ``intent`` (``q1``/``q2``: the intent's top two inside the team)."""
    child = HeadDecision(
        label=intent,
        confidence=q1,
        band="manual",
        parent_head="label",
        top_k=[
            LabelScore(label=intent, probability=q1),
            LabelScore(label=runner_up, probability=q2),
        ],
    )
    return decision(ticket_id, **fields).model_copy(update={"heads": {"intent": child}})

"""Builders of decisions and corrections for learner tests (plain functions, not fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas.events import Band, Correction, Decision, LabelScore

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


def correction(
    ticket_id: str,
    label: str,
    *,
    action: Literal["confirm", "override"] = "override",
    correction_id: str | None = None,
    reviewer: str = "ana",
    minutes: int = 60,
) -> Correction:
    return Correction(
        correction_id=correction_id or f"c-{ticket_id}-{reviewer}-{label}-{minutes}",
        ticket_id=ticket_id,
        label=label,
        reviewer=reviewer,
        action=action,
        corrected_at=T0 + timedelta(minutes=minutes),
    )

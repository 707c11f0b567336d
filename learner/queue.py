"""The review queue: undecided-by-people tickets, most uncertain first, mixed across labels.

Uncertainty is the margin between the top two probabilities (smallest first): a ticket the model
nearly called the other way teaches it the most. A per-label cap keeps one confusing class from
filling a reviewer's whole page.

How the database is read: ``margin`` is a stored column, so SQL filters and orders; two bounded
queries (each LIMIT n) fetch the only rows the answer can contain - the n smallest margins
overall, and the n smallest among rows ranked <= cap within their label (a window function).
:func:`prioritize` then orders that <= 2n candidate set in Python; the table is never loaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, exists, func, select

from learner.exceptions import LearnerError
from learner.tables import CorrectionRow, DecisionRow
from schemas.events import Band

if TYPE_CHECKING:
    from learner.store import Store

REVIEW_BANDS: tuple[Band, ...] = ("shadow", "manual")


def top_two_margin(probabilities: Sequence[float], confidence: float) -> float:
    """Top-1 minus top-2 probability.

    With fewer than two probabilities known, the runner-up is assumed to hold all of the rest
    (1 - top-1): the smallest margin possible, so a thin ``top_k`` never hides a doubtful ticket.
    """
    ranked = sorted(probabilities, reverse=True)
    first = ranked[0] if ranked else confidence
    second = ranked[1] if len(ranked) > 1 else max(0.0, 1.0 - first)
    return max(0.0, first - second)


@dataclass(frozen=True)
class QueueItem:
    ticket_id: str
    label: str
    confidence: float
    margin: float
    band: str
    model_version: str
    decided_at: datetime
    text: str
    top_k: list[dict[str, Any]]

    @property
    def sort_key(self) -> tuple[float, datetime, str]:
        # Ties broken by age then id, so the order is stable across calls and backends.
        return (self.margin, self.decided_at, self.ticket_id)


def prioritize(candidates: Sequence[QueueItem], n: int, per_label_cap: int) -> list[QueueItem]:
    """The first ``n`` items to review: smallest margin first, at most ``per_label_cap`` per
    predicted label; if the cap leaves the page short, the rest follow in margin order."""
    if n <= 0:
        return []
    ordered = sorted(candidates, key=lambda item: item.sort_key)
    per_label: Counter[str] = Counter()
    capped: list[QueueItem] = []
    overflow: list[QueueItem] = []
    for item in ordered:
        if per_label[item.label] < per_label_cap and len(capped) < n:
            per_label[item.label] += 1
            capped.append(item)
        else:
            overflow.append(item)
    return (capped + overflow)[:n]


def _filtered(
    columns: Sequence[Any], band: Band | None, label: str | None, model_version: str | None
) -> Select[Any]:
    stmt = select(*columns).where(
        DecisionRow.band.in_([band] if band else REVIEW_BANDS),
        ~exists().where(CorrectionRow.ticket_id == DecisionRow.ticket_id),
    )
    if label is not None:
        stmt = stmt.where(DecisionRow.label == label)
    if model_version is not None:
        stmt = stmt.where(DecisionRow.model_version == model_version)
    return stmt


def query(
    store: Store,
    n: int,
    *,
    band: Band | None = None,
    label: str | None = None,
    model_version: str | None = None,
    per_label_cap: int = 5,
) -> list[QueueItem]:
    """The next ``n`` tickets a person should review (shadow and manual, no correction yet)."""
    if band is not None and band not in REVIEW_BANDS:
        raise LearnerError(
            f"band {band!r} is not reviewed; the queue holds {' and '.join(REVIEW_BANDS)}"
        )
    if per_label_cap < 1:
        raise LearnerError(f"per_label_cap={per_label_cap} must be at least 1")
    if n <= 0:
        return []
    order = (DecisionRow.margin, DecisionRow.decided_at, DecisionRow.ticket_id)
    smallest = _filtered([DecisionRow.id], band, label, model_version).order_by(*order).limit(n)
    ranked = _filtered(
        [
            DecisionRow.id,
            DecisionRow.margin,
            DecisionRow.decided_at,
            DecisionRow.ticket_id,
            func.row_number()
            .over(partition_by=DecisionRow.label, order_by=order)
            .label("rank_in_label"),
        ],
        band,
        label,
        model_version,
    ).subquery()
    within_cap = (
        select(ranked.c.id)
        .where(ranked.c.rank_in_label <= per_label_cap)
        .order_by(ranked.c.margin, ranked.c.decided_at, ranked.c.ticket_id)
        .limit(n)
    )
    with store.session() as session:
        ids = set(session.scalars(smallest)) | set(session.scalars(within_cap))
        rows = session.scalars(select(DecisionRow).where(DecisionRow.id.in_(ids))).all()
        candidates = [
            QueueItem(
                ticket_id=row.ticket_id,
                label=row.label,
                confidence=row.confidence,
                margin=row.margin,
                band=row.band,
                model_version=row.model_version,
                decided_at=row.decided_at,
                text=row.text,
                top_k=row.top_k,
            )
            for row in rows
        ]
    return prioritize(candidates, n, per_label_cap)

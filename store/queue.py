"""The review queue: undecided-by-people tickets, most uncertain first, mixed across labels.

Uncertainty is the margin between the top two probabilities (smallest first): a ticket the model
nearly called the other way teaches it the most. With several heads (a team and the intent
inside it) it is the least certain head's margin (:func:`store.records.least_certain_margin`,
stored as ``margin``), so a sure team with a doubtful intent is not buried. A ticket leaves the
queue once its primary head is reviewed (that is what routes); a child head reviewed first keeps
it queued, its ``reviewed_heads`` saying so. A per-label cap keeps one confusing class from
filling a reviewer's whole page.

How the database is read: ``margin`` is a stored column, so SQL filters and orders; two bounded
queries (each LIMIT n) fetch the only rows the answer can contain - the n smallest margins
overall, and the n smallest among rows ranked <= cap within their label (a window function).
:func:`prioritize` then orders that <= 2n candidate set in Python; the table is never loaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from schemas import Band
from store.engine import Database
from store.exceptions import QueueError
from store.tables import PRIMARY_HEAD, CorrectionRow, DecisionRow

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
    """One ticket awaiting review: what the CLI prints, the review page shows and the API sends
    (:meth:`as_dict`), so the three cannot drift apart."""

    ticket_id: str
    label: str
    confidence: float
    margin: float
    band: str
    model_version: str
    decided_at: datetime
    text: str
    top_k: list[dict[str, Any]]
    #: every head beyond the primary one, as ``Decision.heads`` carries it
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the heads somebody already corrected (never the primary: that ends the review)
    reviewed_heads: tuple[str, ...] = ()

    @property
    def least_certain_head(self) -> str:
        """The head whose margin is the queue's order (``label`` for the primary)."""
        if not self.heads:
            return PRIMARY_HEAD
        margins = {PRIMARY_HEAD: _margin_of(self.top_k, self.confidence)}
        for name, head in self.heads.items():
            margins[name] = _margin_of(head.get("top_k") or [], float(head["confidence"]))
        return min(margins, key=lambda name: margins[name])

    @property
    def sort_key(self) -> tuple[float, datetime, str]:
        # Ties broken by age then id, so the order is stable across calls and backends.
        return (self.margin, self.decided_at, self.ticket_id)

    @property
    def top3(self) -> list[dict[str, Any]]:
        """The three most probable labels, most probable first."""
        top = sorted(self.top_k, key=lambda s: s["probability"], reverse=True)[:3]
        return [{"label": s["label"], "probability": s["probability"]} for s in top]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, ``decided_at`` in ISO 8601, and the top three labels."""
        return {
            "ticket_id": self.ticket_id,
            "text": self.text,
            "label": self.label,
            "confidence": self.confidence,
            "margin": self.margin,
            "band": self.band,
            "model_version": self.model_version,
            "decided_at": self.decided_at.isoformat(),
            "top_k": self.top_k,
            "top3": self.top3,
            "heads": self.heads,
            "reviewed_heads": list(self.reviewed_heads),
            "least_certain_head": self.least_certain_head,
        }


def _margin_of(top_k: Sequence[dict[str, Any]], confidence: float) -> float:
    return top_two_margin([float(s["probability"]) for s in top_k], confidence)


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
        ~exists().where(
            CorrectionRow.ticket_id == DecisionRow.ticket_id, CorrectionRow.head == PRIMARY_HEAD
        ),
    )
    if label is not None:
        stmt = stmt.where(DecisionRow.label == label)
    if model_version is not None:
        stmt = stmt.where(DecisionRow.model_version == model_version)
    return stmt


def query(
    db: Database,
    n: int,
    *,
    band: Band | None = None,
    label: str | None = None,
    model_version: str | None = None,
    per_label_cap: int = 5,
) -> list[QueueItem]:
    """The next ``n`` tickets a person should review (shadow and manual, no correction yet)."""
    if band is not None and band not in REVIEW_BANDS:
        raise QueueError(
            f"band {band!r} is not reviewed; the queue holds {' and '.join(REVIEW_BANDS)}"
        )
    if per_label_cap < 1:
        raise QueueError(f"per_label_cap={per_label_cap} must be at least 1")
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
    with db.session() as session:
        ids = set(session.scalars(smallest)) | set(session.scalars(within_cap))
        candidates = _items(session, ids)
    return prioritize(candidates, n, per_label_cap)


def _items(session: Session, ids: set[int]) -> list[QueueItem]:
    rows = session.scalars(select(DecisionRow).where(DecisionRow.id.in_(ids))).all()
    reviewed = _reviewed_heads(session, [row.ticket_id for row in rows if row.heads])
    return [
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
            heads=row.heads or {},
            reviewed_heads=tuple(sorted(reviewed.get(row.ticket_id, ()))),
        )
        for row in rows
    ]


def _reviewed_heads(session: Session, ticket_ids: Sequence[str]) -> dict[str, set[str]]:
    """ticket id -> the heads corrected already, for the (at most 2n) candidates with heads."""
    found: dict[str, set[str]] = {}
    if not ticket_ids:
        return found
    stmt = select(CorrectionRow.ticket_id, CorrectionRow.head).where(
        CorrectionRow.ticket_id.in_(ticket_ids)
    )
    for ticket_id, head in session.execute(stmt):
        found.setdefault(ticket_id, set()).add(head)
    return found

"""Decisions and corrections in: one small verb per fact, and the lookups the review needs.

Each write commits before it returns, so a consumer may commit its Kafka offset right after: the
row is durable. Re-delivery is expected (at-least-once topics), so inserts are ``INSERT ... ON
CONFLICT DO NOTHING`` on the natural key: two workers racing on the same event both succeed and
exactly one row exists, with no IntegrityError to handle.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import redact_text
from schemas import Correction, Decision
from store.engine import Database, insert, utcnow
from store.heads import HeadLabels, head_labels
from store.holds import HoldRule, hold_new
from store.queue import REVIEW_BANDS, top_two_margin
from store.tables import PRIMARY_HEAD, CorrectionRow, DecisionRow

log = logging.getLogger(__name__)


class CorrectionOutcome(StrEnum):
    """What became of one correction event; everything but ``stored``/``duplicate`` is bad input
    the consumer must dead-letter (see :meth:`reason`)."""

    stored = "stored"
    #: stored, but waiting for a second reviewer (:mod:`store.holds`): not trained on yet
    held = "held"
    duplicate = "duplicate"
    unknown_ticket = "unknown_ticket"
    unknown_label = "unknown_label"
    #: the head is none of the deployed model's, or the ticket's decision has no such head
    unknown_head = "unknown_head"
    contradicts_decision = "contradicts_decision"

    def reason(self, correction: Correction) -> str:
        """A dead-letter reason a person can act on."""
        head = correction.head
        return {
            CorrectionOutcome.stored: "stored",
            CorrectionOutcome.held: "stored, held for a second reviewer",
            CorrectionOutcome.duplicate: f"correction {correction.correction_id} already stored",
            CorrectionOutcome.unknown_ticket: (
                f"no decision stored for ticket {correction.ticket_id!r}; correct a ticket the "
                "classifier decided (check the ticket id)"
            ),
            CorrectionOutcome.unknown_label: (
                f"label {correction.label!r} is not one of the deployed model's labels"
                + ("" if head == PRIMARY_HEAD else f" of head {head!r}")
                + "; use one of them (`triage models list` names the deployed model), as "
                "`labels` (a list) for a multi-label head and `label` for any other"
            ),
            CorrectionOutcome.unknown_head: (
                f"head {head!r} is not one the deployed model has, or the decision of ticket "
                f"{correction.ticket_id!r} carries no such head; name a head of the model's "
                f"manifest, or omit head for the primary one ({PRIMARY_HEAD!r})"
            ),
            CorrectionOutcome.contradicts_decision: (
                f"action 'confirm' with label {correction.label!r} differs from the decided "
                "label"
                + ("" if head == PRIMARY_HEAD else f" of head {head!r}")
                + "; send action 'override' to change the label"
            ),
        }[self]


@dataclass(frozen=True)
class TrainingCorrection:
    """A correction not yet used in training, with the (redacted) text it labels."""

    correction_id: str
    ticket_id: str
    text: str
    label: str
    action: str
    reviewer: str
    corrected_at: datetime
    #: the head ``label`` is for (the primary ``label`` unless a child head was corrected)
    head: str = PRIMARY_HEAD


def decision_text(decision: Decision) -> str:
    """What the classifier read, the same way ``Ticket.text`` builds it."""
    return f"{decision.subject}\n{decision.body}" if decision.subject else decision.body


def _insert_new(
    session: Session,
    db: Database,
    entity: type[DecisionRow] | type[CorrectionRow],
    key: str,
    **values: Any,
) -> bool:
    """Insert the row unless one with the same ``key`` is stored, so that a re-delivered event
    is harmless; True when the row is new."""
    stmt = (
        insert(db.engine, entity)
        .values(**values, stored_at=utcnow())
        .on_conflict_do_nothing(index_elements=[key])
        .returning(entity.id)
    )
    return session.execute(stmt).first() is not None


def least_certain_margin(decision: Decision) -> float:
    """The queue's order key: the smallest top-two margin over every head, so a ticket whose
    team is sure but whose intent is a coin toss still comes up early (a head with no top_k
    counts as its confidence against the rest, see :func:`top_two_margin`)."""
    margins = [top_two_margin([s.probability for s in decision.top_k], decision.confidence)]
    for head in decision.heads.values():
        margins.append(top_two_margin([s.probability for s in head.top_k], head.confidence))
    return min(margins)


def add_decision(db: Database, decision: Decision) -> bool:
    """Store one decision; False if this ticket's decision is already stored.

    A ticket is decided once; a second, different decision for it (another model version)
    keeps the first, which is what was published and reviewed, and is logged loudly.
    """
    heads = {name: head.model_dump() for name, head in decision.heads.items()}
    values = {
        "ticket_id": decision.ticket_id,
        "text": redact_text(decision_text(decision)) or "",
        "label": decision.label,
        "confidence": decision.confidence,
        "margin": least_certain_margin(decision),
        # only when there are heads: a flat decision's insert then names no column 0004 added
        **({"heads": heads} if heads else {}),
        "band": decision.band,
        "top_k": [score.model_dump() for score in decision.top_k],
        "novel": decision.novel,
        "model_version": decision.model_version,
        "decided_at": decision.decided_at,
        "received_at": decision.received_at,
    }
    with db.session() as session:
        if _insert_new(session, db, DecisionRow, "ticket_id", **values):
            return True
        existing = session.execute(
            select(DecisionRow.model_version, DecisionRow.label).where(
                DecisionRow.ticket_id == decision.ticket_id
            )
        ).one()
    if (existing.model_version, existing.label) != (decision.model_version, decision.label):
        log.warning(
            "ticket %s was decided again (%s by %s) after %s by %s; keeping the first",
            decision.ticket_id,
            decision.label,
            decision.model_version,
            existing.label,
            existing.model_version,
        )
    return False


@dataclass(frozen=True)
class _Decided:
    """One head's answer in a stored decision: what a correction of that head is checked
    against and copies (label, band), and what a hold reads (top_k)."""

    label: str
    band: str
    top_k: list[dict[str, Any]]
    #: a multi-label head's chosen set (None: a single-label head)
    labels: list[str] | None = None

    @property
    def answer(self) -> str:
        """What a correction's ``label`` is compared with: a set as Correction.set_label."""
        return Correction.set_label(self.labels) if self.labels is not None else self.label


def _decided_head(row: Any, head: str) -> _Decided | None:
    if head == PRIMARY_HEAD:
        return _Decided(row.label, row.band, row.top_k)
    found = (row.heads or {}).get(head)
    if found is None:
        return None
    chosen = found.get("labels")
    return _Decided(
        str(found["label"]),
        str(found["band"]),
        list(found.get("top_k") or []),
        [str(x) for x in chosen] if isinstance(chosen, list) else None,
    )


def _check(
    session: Session, correction: Correction, labels: HeadLabels
) -> _Decided | CorrectionOutcome:
    """The decided head the correction is about, or the outcome that refuses it."""
    decided = session.execute(
        select(DecisionRow.label, DecisionRow.band, DecisionRow.top_k, DecisionRow.heads).where(
            DecisionRow.ticket_id == correction.ticket_id
        )
    ).one_or_none()
    if decided is None:
        return CorrectionOutcome.unknown_ticket
    head = _decided_head(decided, correction.head)
    if correction.head not in labels or head is None:
        return CorrectionOutcome.unknown_head
    # a multi-label head takes a set (Correction.labels), every other head one label
    if (correction.labels is None) != (head.labels is None):
        return CorrectionOutcome.unknown_label
    given = correction.labels if correction.labels is not None else [correction.label]
    if any(label not in labels[correction.head] for label in given):
        return CorrectionOutcome.unknown_label
    if correction.action == "confirm" and correction.label != head.answer:
        return CorrectionOutcome.contradicts_decision
    return head


def add_correction(
    db: Database,
    correction: Correction,
    labels: Collection[str] | HeadLabels,
    hold: HoldRule | None = None,
) -> CorrectionOutcome:
    """Store one reviewer action; ``labels`` is what a correction may name (the deployed
    model's labels by head, or the primary head's alone), passed by the caller because the
    store does not load models. A correction of a head is checked against that head's labels
    and its answer in the decision. With a ``hold`` rule, a correction the deciding model was
    confidently against (or one from a flagged reviewer) is stored held, in the same
    transaction."""
    with db.session() as session:
        already = session.scalar(
            select(CorrectionRow.id).where(CorrectionRow.correction_id == correction.correction_id)
        )
        if already is not None:
            return CorrectionOutcome.duplicate
        decided = _check(session, correction, head_labels(labels))
        if isinstance(decided, CorrectionOutcome):
            return decided
        inserted = _insert_new(
            session,
            db,
            CorrectionRow,
            "correction_id",
            correction_id=correction.correction_id,
            ticket_id=correction.ticket_id,
            label=correction.label,
            **({} if correction.head == PRIMARY_HEAD else {"head": correction.head}),
            reviewer=correction.reviewer,
            action=correction.action,
            note=redact_text(correction.note),  # a note can carry a card number too
            decided_label=decided.answer,
            decided_band=decided.band,
            corrected_at=correction.corrected_at,
        )
        # the hold rule weighs one label against the model's top k: a set has no such weight
        if (
            inserted
            and hold is not None
            and decided.labels is None
            and hold_new(session, correction, decided.top_k, hold)
        ):
            return CorrectionOutcome.held
    return CorrectionOutcome.stored if inserted else CorrectionOutcome.duplicate


def unused_corrections_count(db: Database) -> int:
    """What the retrain trigger counts: active corrections no run consumed (quarantined ones
    wait for a person, see :mod:`store.corrections`)."""
    with db.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(CorrectionRow)
            .where(CorrectionRow.used_in_training_run.is_(None), CorrectionRow.status == "active")
        )
    return int(count or 0)


#: the columns that fill a TrainingCorrection, named as its fields
_TRAINING_COLUMNS = (
    CorrectionRow.correction_id,
    CorrectionRow.ticket_id,
    DecisionRow.text,
    CorrectionRow.label,
    CorrectionRow.action,
    CorrectionRow.reviewer,
    CorrectionRow.corrected_at,
    CorrectionRow.head,
)


def training_corrections(db: Database, *, unused_only: bool = True) -> list[TrainingCorrection]:
    """Active corrections with their text, oldest first: when a ticket has several, the later
    one is the reviewers' last word and should win. ``unused_only=False`` gives every active
    correction ever stored, which is what a retrain learns from; quarantined ones are never
    returned, so a rejected run's flood is not retrained on."""
    stmt = (
        select(*_TRAINING_COLUMNS)
        .join(DecisionRow, DecisionRow.ticket_id == CorrectionRow.ticket_id)
        .where(CorrectionRow.status == "active")
        .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
    )
    if unused_only:
        stmt = stmt.where(CorrectionRow.used_in_training_run.is_(None))
    with db.session() as session:
        return [TrainingCorrection(**row._asdict()) for row in session.execute(stmt)]


def first_reviewer(db: Database, ticket_id: str, head: str = PRIMARY_HEAD) -> str | None:
    """Who reviewed ``head`` of ``ticket_id`` first, if anyone did: the review's "first
    reviewer wins", per head (one person may fix the team, another the intent)."""
    with db.session() as session:
        return session.scalar(
            select(CorrectionRow.reviewer)
            .where(CorrectionRow.ticket_id == ticket_id, CorrectionRow.head == head)
            .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
            .limit(1)
        )


def decision_of(db: Database, ticket_id: str) -> tuple[str, str] | None:
    """(label, band) of the ticket's decision, if stored."""
    with db.session() as session:
        row = session.execute(
            select(DecisionRow.label, DecisionRow.band).where(DecisionRow.ticket_id == ticket_id)
        ).one_or_none()
    return (row.label, row.band) if row is not None else None


def decided_head_label(db: Database, ticket_id: str, head: str) -> str | None:
    """What ``head`` answered for ``ticket_id`` (None: no decision, or none from that head):
    the review's confirm-or-override for a head beyond the primary one. A multi-label head's
    answer is its set, as a correction of it names one (Correction.set_label)."""
    with db.session() as session:
        row = session.execute(
            select(DecisionRow.label, DecisionRow.band, DecisionRow.top_k, DecisionRow.heads).where(
                DecisionRow.ticket_id == ticket_id
            )
        ).one_or_none()
    found = _decided_head(row, head) if row is not None else None
    return found.answer if found is not None else None


def count_decisions(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(DecisionRow)) or 0)


def count_corrections(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(CorrectionRow)) or 0)


def unreviewed_routed_texts(db: Database, limit: int) -> list[str]:
    """Texts of the newest ``limit`` routed decisions nobody has corrected or confirmed: what
    the learner may self-train on (models.pseudo). The model routed them and no person has
    looked, so they are unlabelled text, not labels."""
    reviewed = select(CorrectionRow.ticket_id)
    with db.session() as session:
        texts = session.scalars(
            select(DecisionRow.text)
            .where(DecisionRow.band == "routed", DecisionRow.ticket_id.not_in(reviewed))
            .order_by(DecisionRow.id.desc())
            .limit(limit)
        ).all()
    return list(texts)


def reviewable_decisions(db: Database) -> list[tuple[str, str]]:
    """(ticket_id, decided label) of every shadow/manual decision, in the order stored: what a
    reviewer who answers everything (``triage simulate``'s) walks through."""
    with db.session() as session:
        rows = session.execute(
            select(DecisionRow.ticket_id, DecisionRow.label)
            .where(DecisionRow.band.in_(REVIEW_BANDS))
            .order_by(DecisionRow.id)
        ).all()
    return [(ticket_id, label) for ticket_id, label in rows]

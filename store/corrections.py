"""Managing corrections: list them, quarantine, release or delete them, with an audit log.

A quarantined correction is kept but neither trained on nor counted by the retrain trigger.
The learner quarantines the fresh corrections of every rejected run itself (a flood of bad
labels then stops being retrained on at once, and the honest corrections that arrive after it
train without it); a person releases what was wrongly held or deletes what was bad. Keeping the
row (rather than deleting on rejection) keeps its idempotency key, so a re-send of a poisoned
correction stays a no-op instead of coming back as new evidence.

Release puts corrections back as unconsumed: they count toward the next retrain again, because
a person vouching for them is new information. Delete removes the rows (the ticket returns to
the review queue); the audit entry keeps what they said, without the note.

Every change writes one audit row in the same transaction as the change: no change without a
record, no record of a change that rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from store.engine import Database
from store.exceptions import CorrectionsError, CorrectionsNotFound
from store.rows import record_of
from store.runs import CHUNK
from store.tables import CORRECTION_STATUSES, CorrectionAuditRow, CorrectionRow

#: The actor of changes the learner makes itself (quarantining a rejected run's corrections).
LEARNER_ACTOR = "learner"

Status = Literal["active", "quarantined", "held", "overturned"]
AuditAction = Literal["quarantine", "release", "delete", "hold", "confirm", "overturn"]


@dataclass(frozen=True)
class Selection:
    """Which corrections an admin means: explicit ids, a run's, a reviewer's (all combined
    with AND). Empty is refused: "everything" must never be one missing argument away."""

    correction_ids: tuple[str, ...] = ()
    run: int | None = None
    reviewer: str | None = None

    @property
    def empty(self) -> bool:
        return not self.correction_ids and self.run is None and self.reviewer is None

    def describe(self) -> str:
        parts = []
        if self.correction_ids:
            shown = ", ".join(self.correction_ids[:3])
            more = (
                f" and {len(self.correction_ids) - 3} more" if len(self.correction_ids) > 3 else ""
            )
            parts.append(f"ids {shown}{more}")
        if self.run is not None:
            parts.append(f"run {self.run}")
        if self.reviewer is not None:
            parts.append(f"reviewer {self.reviewer!r}")
        return " and ".join(parts) or "nothing"


@dataclass(frozen=True)
class CorrectionRecord:
    correction_id: str
    ticket_id: str
    label: str
    action: str
    reviewer: str
    status: str
    decided_label: str
    corrected_at: datetime
    used_in_training_run: int | None
    #: the head ``label`` is for (``label``: the primary one)
    head: str = "label"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "corrected_at": self.corrected_at.isoformat()}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    acted_at: datetime
    actor: str
    action: str
    reason: str
    correction_ids: list[str]
    training_run: int | None = None
    details: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "acted_at": self.acted_at.isoformat()}


def _record(row: CorrectionRow) -> CorrectionRecord:
    return record_of(CorrectionRecord, row)


def _entry(row: CorrectionAuditRow) -> AuditEntry:
    return record_of(AuditEntry, row, correction_ids=list(row.correction_ids))


def list_corrections(
    db: Database,
    *,
    status: Status | None = None,
    run: int | None = None,
    reviewer: str | None = None,
    ticket_id: str | None = None,
    limit: int = 100,
) -> list[CorrectionRecord]:
    """Newest first: the corrections an admin is most likely asking about."""
    if status is not None and status not in CORRECTION_STATUSES:
        raise CorrectionsError(f"status {status!r} is unknown; use one of {CORRECTION_STATUSES}")
    stmt = select(CorrectionRow).order_by(
        CorrectionRow.corrected_at.desc(), CorrectionRow.id.desc()
    )
    if status is not None:
        stmt = stmt.where(CorrectionRow.status == status)
    if ticket_id is not None:
        stmt = stmt.where(CorrectionRow.ticket_id == ticket_id)
    for condition in _conditions(Selection(run=run, reviewer=reviewer)):
        stmt = stmt.where(condition)
    with db.session() as session:
        return [_record(row) for row in session.scalars(stmt.limit(limit))]


def audit_log(db: Database, *, limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    stmt = (
        select(CorrectionAuditRow)
        .order_by(CorrectionAuditRow.acted_at.desc(), CorrectionAuditRow.id.desc())
        .limit(limit)
    )
    with db.session() as session:
        return [_entry(row) for row in session.scalars(stmt)]


def _conditions(selection: Selection) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if selection.run is not None:
        conditions.append(CorrectionRow.used_in_training_run == selection.run)
    if selection.reviewer is not None:
        conditions.append(CorrectionRow.reviewer == selection.reviewer)
    return conditions


def _selected(session: Session, selection: Selection) -> list[int]:
    """Primary keys of the selected rows; explicit ids that match no row are refused by name,
    so a typo is not silently half-applied."""
    if selection.empty:
        raise CorrectionsError(
            "no corrections selected; name correction ids, --run N or --reviewer NAME "
            "(`triage corrections list` shows them)"
        )
    conditions = _conditions(selection)
    if not selection.correction_ids:
        return list(session.scalars(select(CorrectionRow.id).where(*conditions)))
    found: dict[str, int] = {}
    ids = list(dict.fromkeys(selection.correction_ids))
    for chunk in _chunks(ids):
        stmt = select(CorrectionRow.correction_id, CorrectionRow.id).where(
            CorrectionRow.correction_id.in_(chunk), *conditions
        )
        found.update({cid: pk for cid, pk in session.execute(stmt)})
    missing = [cid for cid in ids if cid not in found]
    if missing:
        raise CorrectionsNotFound(
            f"no correction {', '.join(missing[:5])} matches {selection.describe()}; check the "
            "ids with `triage corrections list`"
        )
    return list(found.values())


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _audit(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    reason: str,
    correction_ids: list[str],
    training_run: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    row = CorrectionAuditRow(
        acted_at=datetime.now(UTC),
        actor=actor,
        action=action,
        reason=reason,
        correction_ids=correction_ids,
        training_run=training_run,
        details=details,
    )
    session.add(row)
    session.flush()
    return _entry(row)


def _check_who_why(actor: str, reason: str) -> None:
    if not actor.strip():
        raise CorrectionsError("the actor is empty; say who makes this change (--by NAME)")
    if not reason.strip():
        raise CorrectionsError("the reason is empty; say why, for the audit log (--reason TEXT)")


def _set_status(
    db: Database,
    selection: Selection,
    *,
    to: Status,
    actor: str,
    reason: str,
) -> AuditEntry | None:
    """Move the selected corrections that are not already ``to``; None when none moved."""
    _check_who_why(actor, reason)
    action: AuditAction = "quarantine" if to == "quarantined" else "release"
    # only between these two: a held correction waits for a second reviewer, an overturned
    # one was judged; an admin's release must not skip either (delete still removes them)
    source = "active" if to == "quarantined" else "quarantined"
    values: dict[str, Any] = {"status": to}
    if to == "active":
        values["used_in_training_run"] = None  # counted again by the trigger
    with db.session() as session:
        changed: list[str] = []
        for chunk in _chunks(_selected(session, selection)):
            stmt = (
                update(CorrectionRow)
                .where(CorrectionRow.id.in_(chunk), CorrectionRow.status == source)
                .values(**values)
                .returning(CorrectionRow.correction_id)
            )
            changed.extend(session.scalars(stmt))
        if not changed:
            return None
        return _audit(
            session,
            actor=actor,
            action=action,
            reason=reason,
            correction_ids=sorted(changed),
            details={"selection": selection.describe()},
        )


def quarantine(db: Database, selection: Selection, *, actor: str, reason: str) -> AuditEntry | None:
    """Hold the selected active corrections out of training and the trigger count."""
    return _set_status(db, selection, to="quarantined", actor=actor, reason=reason)


def release(db: Database, selection: Selection, *, actor: str, reason: str) -> AuditEntry | None:
    """Return the selected quarantined corrections to training, as not yet consumed."""
    return _set_status(db, selection, to="active", actor=actor, reason=reason)


def delete_corrections(
    db: Database, selection: Selection, *, actor: str, reason: str
) -> AuditEntry:
    """Remove the selected corrections; the audit entry keeps what each said (not its note)."""
    _check_who_why(actor, reason)
    with db.session() as session:
        removed: list[dict[str, Any]] = []
        for chunk in _chunks(_selected(session, selection)):
            stmt = (
                delete(CorrectionRow)
                .where(CorrectionRow.id.in_(chunk))
                .returning(
                    CorrectionRow.correction_id,
                    CorrectionRow.ticket_id,
                    CorrectionRow.label,
                    CorrectionRow.action,
                    CorrectionRow.reviewer,
                    CorrectionRow.status,
                    CorrectionRow.used_in_training_run,
                )
            )
            removed.extend(dict(row._mapping) for row in session.execute(stmt))
        if not removed:
            raise CorrectionsNotFound(
                f"no correction matches {selection.describe()}; nothing deleted "
                "(`triage corrections list` shows what exists)"
            )
        removed.sort(key=lambda r: str(r["correction_id"]))
        return _audit(
            session,
            actor=actor,
            action="delete",
            reason=reason,
            correction_ids=[str(r["correction_id"]) for r in removed],
            details={"selection": selection.describe(), "rows": removed},
        )


def quarantine_rejected_run(
    db: Database, run_id: int, correction_ids: Sequence[str], *, reason: str
) -> int:
    """Consume a rejected run's fresh corrections by holding them: tag them with the run (so
    ``--run N`` finds them) and quarantine them, in one transaction with its audit row.

    Only corrections still active and unconsumed move: one an admin already handled, or one an
    earlier run consumed, keeps its state.
    """
    with db.session() as session:
        held: list[str] = []
        for chunk in _chunks(list(correction_ids)):
            stmt = (
                update(CorrectionRow)
                .where(
                    CorrectionRow.correction_id.in_(chunk),
                    CorrectionRow.used_in_training_run.is_(None),
                    CorrectionRow.status == "active",
                )
                .values(status="quarantined", used_in_training_run=run_id)
                .returning(CorrectionRow.correction_id)
            )
            held.extend(session.scalars(stmt))
        if held:
            _audit(
                session,
                actor=LEARNER_ACTOR,
                action="quarantine",
                reason=reason,
                correction_ids=sorted(held),
                training_run=run_id,
            )
    return len(held)

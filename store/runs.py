"""Training runs: their start, their end, the corrections each consumed, and their history.

Runs that never finished (the learner was killed, or lost its store, mid-run) are closed by
:func:`close_interrupted_runs` before the next run starts, so no run looks ``running`` forever
and ``triage models list`` shows how each one ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from store.engine import Database, utcnow
from store.exceptions import StoreError
from store.rows import record_of
from store.tables import CorrectionRow, TrainingRunRow

#: What an interrupted run's report says; ``failed`` is its outcome (the closed vocabulary of
#: outcomes has no word of its own for it, and a new one would need a migration).
INTERRUPTED = (
    "interrupted: the learner stopped before this run finished (killed, or its store became "
    "unavailable); nothing of it was deployed and its corrections were left for the next run"
)
#: Most rows one IN list holds: under every backend's bound-parameter limit.
CHUNK = 500


@dataclass(frozen=True)
class RunRecord:
    """One training run as stored; ``outcome`` None means it is still running."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    corrections_used: int
    gold_rows: int
    candidate_version: str | None
    outcome: str | None
    report: dict[str, Any] | None


def _record(row: TrainingRunRow) -> RunRecord:
    return record_of(RunRecord, row)


def start_run(db: Database, *, gold_rows: int, corrections_used: int) -> int:
    """Record that a training run began; its id tags the corrections it consumes."""
    with db.session() as session:
        run = TrainingRunRow(
            started_at=utcnow(), gold_rows=gold_rows, corrections_used=corrections_used
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    db: Database,
    run_id: int,
    *,
    outcome: str,
    candidate_version: str | None = None,
    report: dict[str, Any] | None = None,
) -> None:
    with db.session() as session:
        done = session.execute(
            update(TrainingRunRow)
            .where(TrainingRunRow.id == run_id)
            .values(
                finished_at=utcnow(),
                outcome=outcome,
                candidate_version=candidate_version,
                report=report,
            )
        ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise StoreError(f"training run {run_id} does not exist; start it with start_run()")


def mark_used(db: Database, run_id: int, correction_ids: Iterable[str]) -> int:
    """Tag corrections as consumed by ``run_id`` so the trigger stops counting them.

    Only the trigger reads this tag: every run still trains on all active corrections.
    Already-used corrections keep the first run that consumed them.
    """
    ids = list(correction_ids)
    marked = 0
    with db.session() as session:
        for start in range(0, len(ids), CHUNK):
            marked += session.execute(
                update(CorrectionRow)
                .where(
                    CorrectionRow.correction_id.in_(ids[start : start + CHUNK]),
                    CorrectionRow.used_in_training_run.is_(None),
                )
                .values(used_in_training_run=run_id)
            ).rowcount  # type: ignore[attr-defined]
    return marked


def close_interrupted_runs(db: Database) -> list[int]:
    """Mark every run without an outcome ``failed`` (interrupted); returns their ids.

    Call it only when no other run can be alive: right before starting one, in the one
    learner replica that trains (one run at a time). A run is open only between
    ``start_run`` and ``finish_run``, which the same retrain cycle makes, so an open run
    found then belongs to a process that died.
    """
    with db.session() as session:
        ids = list(
            session.scalars(
                select(TrainingRunRow.id).where(
                    TrainingRunRow.outcome.is_(None), TrainingRunRow.finished_at.is_(None)
                )
            )
        )
        if ids:
            session.execute(
                update(TrainingRunRow)
                .where(TrainingRunRow.id.in_(ids), TrainingRunRow.outcome.is_(None))
                .values(
                    outcome="failed",
                    finished_at=utcnow(),
                    report={"error": INTERRUPTED, "interrupted": True},
                )
            )
    return ids


def retrain_history(db: Database, limit: int = 20) -> list[RunRecord]:
    """The newest ``limit`` runs, newest first: the dashboard's history of retrains."""
    with db.session() as session:
        rows = session.scalars(
            select(TrainingRunRow).order_by(TrainingRunRow.started_at.desc()).limit(limit)
        ).all()
        return [_record(row) for row in rows]


def runs_by_candidate(db: Database) -> dict[str, RunRecord]:
    """Each candidate version's run (a run that produced no candidate is left out)."""
    with db.session() as session:
        rows = session.scalars(select(TrainingRunRow)).all()
        return {r.candidate_version: _record(r) for r in rows if r.candidate_version}


def finished_runs(db: Database) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(TrainingRunRow)
                .where(TrainingRunRow.finished_at.is_not(None))
            )
            or 0
        )


def run_counts(db: Database) -> dict[str, int]:
    """Runs per outcome, ``running`` for those without one (the metrics' retrain counter)."""
    stmt = select(TrainingRunRow.outcome, func.count()).group_by(TrainingRunRow.outcome)
    with db.session() as session:
        return {outcome or "running": int(n) for outcome, n in session.execute(stmt)}

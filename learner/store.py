"""The active-learning store: every decision, every reviewer correction, every training run.

One small verb per fact. Each ``add_*`` commits before it returns, so a consumer may commit its
Kafka offset right after: the row is durable. Re-delivery is expected (at-least-once topics), so
inserts are ``INSERT ... ON CONFLICT DO NOTHING`` on the natural key: two workers racing on the
same event both succeed and exactly one row exists, with no IntegrityError to handle.

SQLite (a file, the default) and PostgreSQL are supported; the schema is created and upgraded by
Alembic (:func:`migrate`), never by ``create_all``, so production and tests run the same DDL.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from learner.exceptions import StoreError
from learner.queue import top_two_margin
from learner.tables import Base, CorrectionRow, DecisionRow, TrainingRunRow
from models.redact import redact, redact_text
from schemas.events import Correction, Decision

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class CorrectionOutcome(StrEnum):
    """What became of one correction event; everything but ``stored``/``duplicate`` is bad input
    the consumer must dead-letter (see :meth:`reason`)."""

    stored = "stored"
    duplicate = "duplicate"
    unknown_ticket = "unknown_ticket"
    unknown_label = "unknown_label"
    contradicts_decision = "contradicts_decision"

    @property
    def accepted(self) -> bool:
        return self in (CorrectionOutcome.stored, CorrectionOutcome.duplicate)

    def reason(self, correction: Correction) -> str:
        """A dead-letter reason a person can act on."""
        return {
            CorrectionOutcome.stored: "stored",
            CorrectionOutcome.duplicate: f"correction {correction.correction_id} already stored",
            CorrectionOutcome.unknown_ticket: (
                f"no decision stored for ticket {correction.ticket_id!r}; correct a ticket the "
                "classifier decided (check the ticket id)"
            ),
            CorrectionOutcome.unknown_label: (
                f"label {correction.label!r} is not one of the deployed model's labels; "
                "use one of them (`triage models list` names the deployed model)"
            ),
            CorrectionOutcome.contradicts_decision: (
                f"action 'confirm' with label {correction.label!r} differs from the decided "
                "label; send action 'override' to change the label"
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def decision_text(decision: Decision) -> str:
    """What the classifier read, the same way ``Ticket.text`` builds it."""
    return f"{decision.subject}\n{decision.body}" if decision.subject else decision.body


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's config built in code: the package ships no alembic.ini to lose or misplace."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the queue and report read while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created so the default URL just works."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"database URL {url!r} is not a SQLAlchemy URL ({exc}); "
            "use e.g. sqlite:///var/triage.db or postgresql+psycopg://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} uses {backend!r}; "
            "the store supports sqlite and postgresql"
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _insert(engine: Engine, entity: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ``ON CONFLICT DO NOTHING``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect and (by default) migrate, so a fresh database is usable at once."""
        engine = connect(url)
        if upgrade:
            try:
                migrate(engine)
            except OperationalError as exc:
                engine.dispose()
                where = make_url(url).render_as_string(hide_password=True)
                raise StoreError(
                    f"cannot open the store at {where}: {exc.orig}; check TRIAGE_DATABASE_URL "
                    "and that the server is running"
                ) from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    # -- decisions ---------------------------------------------------------------------------

    def add_decision(self, decision: Decision) -> bool:
        """Store one decision; False if this ticket's decision is already stored.

        A ticket is decided once; a second, different decision for it (another model version)
        keeps the first, which is what was published and reviewed, and is logged loudly.
        """
        now = utcnow()
        top_k = [score.model_dump() for score in decision.top_k]
        stmt = (
            _insert(self.engine, DecisionRow)
            .values(
                ticket_id=decision.ticket_id,
                text=redact(decision_text(decision)).text,
                label=decision.label,
                confidence=decision.confidence,
                margin=top_two_margin([s.probability for s in decision.top_k], decision.confidence),
                band=decision.band,
                top_k=top_k,
                novel=decision.novel,
                model_version=decision.model_version,
                decided_at=decision.decided_at,
                received_at=decision.received_at,
                stored_at=now,
            )
            .on_conflict_do_nothing(index_elements=["ticket_id"])
            .returning(DecisionRow.id)
        )
        with self.session() as session:
            if session.execute(stmt).first() is not None:
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

    # -- corrections -------------------------------------------------------------------------

    def add_correction(self, correction: Correction, labels: Collection[str]) -> CorrectionOutcome:
        """Store one reviewer action; ``labels`` is what a correction may name (the deployed
        model's labels), passed by the caller because the store does not load models."""
        with self.session() as session:
            already = session.scalar(
                select(CorrectionRow.id).where(
                    CorrectionRow.correction_id == correction.correction_id
                )
            )
            if already is not None:
                return CorrectionOutcome.duplicate
            decided = session.execute(
                select(DecisionRow.label, DecisionRow.band).where(
                    DecisionRow.ticket_id == correction.ticket_id
                )
            ).one_or_none()
            if decided is None:
                return CorrectionOutcome.unknown_ticket
            if correction.label not in labels:
                return CorrectionOutcome.unknown_label
            if correction.action == "confirm" and correction.label != decided.label:
                return CorrectionOutcome.contradicts_decision
            stmt = (
                _insert(self.engine, CorrectionRow)
                .values(
                    correction_id=correction.correction_id,
                    ticket_id=correction.ticket_id,
                    label=correction.label,
                    reviewer=correction.reviewer,
                    action=correction.action,
                    note=redact_text(correction.note),  # a note can carry a card number too
                    decided_label=decided.label,
                    decided_band=decided.band,
                    corrected_at=correction.corrected_at,
                    stored_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["correction_id"])
                .returning(CorrectionRow.id)
            )
            inserted = session.execute(stmt).first() is not None
        return CorrectionOutcome.stored if inserted else CorrectionOutcome.duplicate

    def unused_corrections_count(self) -> int:
        """What the retrain trigger counts: active corrections no run consumed (quarantined
        ones wait for a person, see :mod:`learner.corrections`)."""
        with self.session() as session:
            count = session.scalar(
                select(func.count())
                .select_from(CorrectionRow)
                .where(
                    CorrectionRow.used_in_training_run.is_(None),
                    CorrectionRow.status == "active",
                )
            )
        return int(count or 0)

    def training_corrections(self, *, unused_only: bool = True) -> list[TrainingCorrection]:
        """Active corrections with their text, oldest first: when a ticket has several, the
        later one is the reviewers' last word and should win. ``unused_only=False`` gives every
        active correction ever stored, which is what a retrain learns from; quarantined ones
        are never returned, so a rejected run's flood is not retrained on."""
        stmt = (
            select(CorrectionRow, DecisionRow.text)
            .join(DecisionRow, DecisionRow.ticket_id == CorrectionRow.ticket_id)
            .where(CorrectionRow.status == "active")
            .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
        )
        if unused_only:
            stmt = stmt.where(CorrectionRow.used_in_training_run.is_(None))
        with self.session() as session:
            return [
                TrainingCorrection(
                    correction_id=row.correction_id,
                    ticket_id=row.ticket_id,
                    text=text,
                    label=row.label,
                    action=row.action,
                    reviewer=row.reviewer,
                    corrected_at=row.corrected_at,
                )
                for row, text in session.execute(stmt)
            ]

    # -- training runs -----------------------------------------------------------------------

    def start_run(self, *, gold_rows: int, corrections_used: int) -> int:
        """Record that a training run began; its id tags the corrections it consumes."""
        with self.session() as session:
            run = TrainingRunRow(
                started_at=utcnow(), gold_rows=gold_rows, corrections_used=corrections_used
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(
        self,
        run_id: int,
        *,
        outcome: str,
        candidate_version: str | None = None,
        report: dict[str, Any] | None = None,
    ) -> None:
        with self.session() as session:
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

    def mark_used(self, run_id: int, correction_ids: Iterable[str]) -> int:
        """Tag corrections as consumed by ``run_id`` so the trigger stops counting them.

        Only the trigger reads this tag: every run still trains on all active corrections.
        Already-used corrections keep the first run that consumed them.
        """
        ids = list(correction_ids)
        marked = 0
        with self.session() as session:
            # Chunks keep the IN list under every backend's bound-parameter limit.
            for start in range(0, len(ids), 500):
                marked += session.execute(
                    update(CorrectionRow)
                    .where(
                        CorrectionRow.correction_id.in_(ids[start : start + 500]),
                        CorrectionRow.used_in_training_run.is_(None),
                    )
                    .values(used_in_training_run=run_id)
                ).rowcount  # type: ignore[attr-defined]
        return marked

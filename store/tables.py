"""The store's tables, as typed ORM models; ``store/migrations`` creates exactly this schema.

Closed vocabularies (band, action, status, outcome) are short strings guarded by CHECK constraints
rather than native enums: adding a value is then a one-line migration on both SQLite and
PostgreSQL instead of an ``ALTER TYPE`` dance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

BANDS = ("routed", "shadow", "manual")
ACTIONS = ("confirm", "override")
MODEL_STATUSES = ("candidate", "deployed", "rejected", "retired")
RUN_OUTCOMES = ("deployed", "rejected", "failed")
#: ``active`` corrections are trained on and counted; ``quarantined`` ones wait for a person;
#: ``held`` ones wait for a second reviewer (:mod:`store.holds`), who confirms them (active) or
#: overturns them (``overturned``: kept, so a re-send stays a no-op, never trained on).
CORRECTION_STATUSES = ("active", "quarantined", "held", "overturned")
VERDICTS = ("confirmed", "overturned")
#: the head a correction labels unless it names another (``schemas.Correction.head``)
PRIMARY_HEAD = "label"
AUDIT_ACTIONS = ("quarantine", "release", "delete", "hold", "confirm", "overturn")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend.

    SQLite has no time zones: without this, a value written aware comes back naive and
    comparisons with aware values raise. Naive input is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass a timezone-aware one")
        value = value.astimezone(UTC)
        # SQLite stores text: strip the offset so values sort and compare as strings do.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON on every backend, JSONB (indexable, compact) on PostgreSQL.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONDocument,
    }


class DecisionRow(Base):
    """One classifier decision per ticket, as published to a band topic.

    ``margin`` (top-1 minus top-2 probability) is computed on insert so the review queue can
    order and limit in SQL instead of reading every ``top_k`` document.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(_one_of("band", BANDS), name="band"),
        Index(None, "band", "margin"),
        Index(None, "decided_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(256), unique=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))
    top_k: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    novel: Mapped[bool]
    model_version: Mapped[str] = mapped_column(String(128), index=True)
    decided_at: Mapped[datetime]
    received_at: Mapped[datetime | None]
    stored_at: Mapped[datetime]
    #: every head beyond the primary one (``Decision.heads`` as JSON); None: a single-head
    #: model's decision. ``margin`` is then the least certain head's (the queue's order).
    heads: Mapped[dict[str, Any] | None]


class TrainingRunRow(Base):
    __tablename__ = "training_runs"
    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {_one_of('outcome', RUN_OUTCOMES)}", name="outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    corrections_used: Mapped[int] = mapped_column(Integer, default=0)
    gold_rows: Mapped[int] = mapped_column(Integer, default=0)
    candidate_version: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(16))
    report: Mapped[dict[str, Any] | None]


class CorrectionRow(Base):
    """One reviewer action on one ticket; ``correction_id`` makes re-delivery a no-op.

    The decided label and band are copied from the decision so band precision stays right even
    if the decision row is later re-read by a different model's view of the ticket.
    """

    __tablename__ = "corrections"
    __table_args__ = (
        CheckConstraint(_one_of("action", ACTIONS), name="action"),
        CheckConstraint(_one_of("decided_band", BANDS), name="decided_band"),
        CheckConstraint(_one_of("status", CORRECTION_STATUSES), name="status"),
        CheckConstraint(f"verdict IS NULL OR {_one_of('verdict', VERDICTS)}", name="verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    correction_id: Mapped[str] = mapped_column(String(128), unique=True)
    ticket_id: Mapped[str] = mapped_column(
        String(256), ForeignKey("decisions.ticket_id"), index=True
    )
    label: Mapped[str] = mapped_column(String(128))
    #: the head ``label`` is for (``Correction.head``); ``decided_label``/``decided_band`` are
    #: that head's answer in the decision
    head: Mapped[str] = mapped_column(String(64), default=PRIMARY_HEAD, server_default=PRIMARY_HEAD)
    reviewer: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    decided_label: Mapped[str] = mapped_column(String(128))
    decided_band: Mapped[str] = mapped_column(String(16))
    corrected_at: Mapped[datetime]
    stored_at: Mapped[datetime]
    used_in_training_run: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id"), index=True
    )
    status: Mapped[str] = mapped_column(
        String(16), default="active", server_default="active", index=True
    )
    #: set when the correction was held for a second reviewer: when, the model's label and its
    #: probability against the correction's label (None when held because its reviewer is
    #: flagged), and the second reviewer's verdict
    held_at: Mapped[datetime | None]
    hold_label: Mapped[str | None] = mapped_column(String(128))
    hold_against: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(16))
    verdict_by: Mapped[str | None] = mapped_column(String(256))
    verdict_at: Mapped[datetime | None]


class CorrectionAuditRow(Base):
    """Who quarantined, released or deleted which corrections, when and why.

    ``correction_ids`` is a list rather than a link table: deleted corrections leave no row to
    link to, and the record must outlive them. ``details`` keeps what a deleted row said.
    """

    __tablename__ = "correction_audit"
    __table_args__ = (CheckConstraint(_one_of("action", AUDIT_ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    acted_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    correction_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    training_run: Mapped[int | None] = mapped_column(ForeignKey("training_runs.id"))
    details: Mapped[dict[str, Any] | None]


class ModelVersionRow(Base):
    """Every model the learner trained or was given, and what became of it.

    The partial unique index makes "exactly one deployed model" a database fact, not a
    convention two racing deployers could both break.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(_one_of("status", MODEL_STATUSES), name="status"),
        Index(
            "uq_model_versions_one_deployed",
            "status",
            unique=True,
            sqlite_where=text("status = 'deployed'"),
            postgresql_where=text("status = 'deployed'"),
        ),
    )

    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_dir: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict[str, Any] | None]
    gate_report: Mapped[dict[str, Any] | None]
    parent_version: Mapped[str | None] = mapped_column(
        String(128), ForeignKey("model_versions.version")
    )
    created_at: Mapped[datetime]
    deployed_at: Mapped[datetime | None]

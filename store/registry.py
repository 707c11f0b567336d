"""The model registry: which versions exist, which one is deployed, and how they got there.

Transitions::

    candidate --mark_deployed--> deployed --(another is deployed)--> retired
    candidate --mark_rejected--> rejected
    retired   --rollback-------> deployed

Each transition is one transaction of conditional UPDATEs, and a partial unique index allows a
single ``deployed`` row, so two racing deployers cannot both win: the loser gets a
:class:`RegistryError` and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.engine import Database
from store.exceptions import RegistryError
from store.rows import record_of
from store.tables import ModelVersionRow


@dataclass(frozen=True)
class ModelRecord:
    version: str
    model_dir: str
    status: str
    metrics: dict[str, Any] | None
    gate_report: dict[str, Any] | None
    parent_version: str | None
    created_at: datetime
    deployed_at: datetime | None


def _record(row: ModelVersionRow) -> ModelRecord:
    return record_of(ModelRecord, row)


def _get(session: Session, version: str) -> ModelVersionRow:
    row = session.get(ModelVersionRow, version)
    if row is None:
        raise RegistryError(
            f"model version {version!r} is not registered; "
            "`triage models list` shows the known ones"
        )
    return row


def register_candidate(
    db: Database,
    version: str,
    model_dir: str,
    *,
    metrics: dict[str, Any] | None = None,
    parent_version: str | None = None,
) -> ModelRecord:
    """Record a freshly trained model before its gates run, so a crash mid-gate leaves a trace."""
    try:
        with db.session() as session:
            if parent_version is not None:
                _get(session, parent_version)
            row = ModelVersionRow(
                version=version,
                model_dir=model_dir,
                status="candidate",
                metrics=metrics,
                parent_version=parent_version,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return _record(row)
    except IntegrityError as exc:
        raise RegistryError(
            f"model version {version!r} is already registered; versions are immutable, "
            "train under a new version id"
        ) from exc


def _deploy(
    db: Database,
    version: str,
    allowed_from: tuple[str, ...],
    verb: str,
    gate_report: dict[str, Any] | None = None,
) -> ModelRecord:
    try:
        with db.session() as session:
            row = _get(session, version)
            if row.status == "deployed":
                return _record(row)
            if row.status not in allowed_from:
                raise RegistryError(
                    f"cannot {verb} model {version!r}: it is {row.status}; only "
                    f"{' or '.join(allowed_from)} versions can be"
                    + (" (a rejected model failed its gates)" if row.status == "rejected" else "")
                )
            now = datetime.now(UTC)
            session.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.status == "deployed")
                .values(status="retired")
            )
            moved = session.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.version == version, ModelVersionRow.status == row.status)
                .values(
                    status="deployed",
                    deployed_at=now,
                    gate_report=gate_report if gate_report is not None else row.gate_report,
                )
            ).rowcount  # type: ignore[attr-defined]
            if moved != 1:
                raise RegistryError(
                    f"model {version!r} changed status while deploying it; "
                    "list the models and retry"
                )
            session.expire_all()
            return _record(_get(session, version))
    except IntegrityError as exc:
        raise RegistryError(
            f"another model was deployed while deploying {version!r}; list the models and retry"
        ) from exc


def mark_deployed(
    db: Database, version: str, *, gate_report: dict[str, Any] | None = None
) -> ModelRecord:
    """Deploy a candidate that passed its gates; the deployed model (if any) becomes retired."""
    return _deploy(db, version, ("candidate",), "deploy", gate_report)


def mark_rejected(db: Database, version: str, *, gate_report: dict[str, Any]) -> ModelRecord:
    """A candidate failed its gates: keep it, and why, for the record; the deployed one stays."""
    with db.session() as session:
        row = _get(session, version)
        if row.status != "candidate":
            raise RegistryError(
                f"cannot reject model {version!r}: it is {row.status}; only candidates are gated"
            )
        row.status = "rejected"
        row.gate_report = gate_report
        session.flush()
        return _record(row)


def rollback(db: Database, version: str) -> ModelRecord:
    """Serve an earlier deployed (now retired) model again; the current one is retired."""
    return _deploy(db, version, ("retired",), "roll back to")


def deployed(db: Database) -> ModelRecord | None:
    with db.session() as session:
        row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.status == "deployed"))
        return _record(row) if row is not None else None


def list_versions(db: Database) -> list[ModelRecord]:
    """Newest first: what ops reads when deciding what to roll back to."""
    with db.session() as session:
        rows = session.scalars(
            select(ModelVersionRow).order_by(
                ModelVersionRow.created_at.desc(), ModelVersionRow.version.desc()
            )
        ).all()
        return [_record(row) for row in rows]

"""The Alembic migrations create exactly the ORM's schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect, text

from store import CorrectionOutcome, Store
from store.engine import alembic_config, connect, migrate
from store.tables import Base
from tests.learner.events import LABELS, correction, decision


def diffs(store: Store, metadata: MetaData) -> list[object]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrated_schema_equals_the_orm_metadata(store: Store) -> None:
    assert diffs(store, Base.metadata) == []


def test_the_comparison_would_see_a_drift(store: Store) -> None:
    """Guards the test above against comparing nothing: a changed metadata shows a diff."""
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["decisions"].append_column(Column("extra", Integer))
    found = diffs(store, drifted)
    assert any(d[0] == "add_column" and d[3].name == "extra" for d in found)  # type: ignore[index]


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
        assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
        reopened = Store.open(database_url)
        reopened.close()
        assert {
            "decisions",
            "corrections",
            "model_versions",
            "training_runs",
            "correction_audit",
        } <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_corrections_stored_before_0002_become_active(database_url: str) -> None:
    """Upgrading a store that holds corrections keeps them trained on and counted."""
    engine = connect(database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0001")
    finally:
        engine.dispose()
    old = Store(connect(database_url))
    try:
        old.add_decision(decision("t1", "cards"))
        with old.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO corrections (correction_id, ticket_id, label, reviewer, action, "
                    "decided_label, decided_band, corrected_at, stored_at) VALUES "
                    "('c1', 't1', 'loans', 'ana', 'override', 'cards', 'shadow', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        migrate(old.engine)
        assert old.unused_corrections_count() == 1
        assert [c.correction_id for c in old.training_corrections()] == ["c1"]
        stored = old.add_correction(correction("t1", "loans", correction_id="c1"), LABELS)
        assert stored is CorrectionOutcome.duplicate  # a re-send, still accepted
    finally:
        old.close()

"""The Alembic migrations create exactly the ORM's schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

from learner.store import Store, alembic_config
from learner.tables import Base


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
        assert {"decisions", "corrections", "model_versions", "training_runs"} <= set(
            inspect(store.engine).get_table_names()
        )
    finally:
        store.close()

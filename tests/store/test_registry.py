"""Registry transitions: one deployed model at a time, rejects stay out, rollback restores."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from store import RegistryError, Store, registry
from store.tables import ModelVersionRow


def statuses(store: Store) -> dict[str, str]:
    return {r.version: r.status for r in registry.list_versions(store)}


def test_deploy_retires_the_previous_and_rejects_leave_it_deployed(store: Store) -> None:
    assert registry.deployed(store) is None
    registry.register_candidate(store, "v1", "/m/v1", metrics={"macro_f1": 0.8})
    registry.mark_deployed(store, "v1", gate_report={"passed": True})
    registry.register_candidate(store, "v2", "/m/v2", parent_version="v1")
    registry.mark_rejected(store, "v2", gate_report={"passed": False, "gate": "macro_f1"})
    registry.register_candidate(store, "v3", "/m/v3", parent_version="v1")
    assert statuses(store) == {"v1": "deployed", "v2": "rejected", "v3": "candidate"}

    record = registry.mark_deployed(store, "v3")
    assert record.status == "deployed"
    assert record.deployed_at is not None
    assert statuses(store) == {"v1": "retired", "v2": "rejected", "v3": "deployed"}
    deployed = registry.deployed(store)
    assert deployed is not None
    assert deployed.version == "v3"
    assert [r.version for r in registry.list_versions(store)] == ["v3", "v2", "v1"]
    rejected = next(r for r in registry.list_versions(store) if r.version == "v2")
    assert rejected.gate_report == {"passed": False, "gate": "macro_f1"}


def test_rollback_restores_a_retired_version_only(store: Store) -> None:
    registry.register_candidate(store, "v1", "/m/v1")
    registry.mark_deployed(store, "v1")
    registry.register_candidate(store, "v2", "/m/v2")
    registry.mark_rejected(store, "v2", gate_report={"passed": False})
    registry.register_candidate(store, "v3", "/m/v3")
    registry.mark_deployed(store, "v3")

    registry.rollback(store, "v1")
    assert statuses(store) == {"v1": "deployed", "v2": "rejected", "v3": "retired"}
    with pytest.raises(RegistryError, match="rejected"):
        registry.rollback(store, "v2")
    with pytest.raises(RegistryError, match="not registered"):
        registry.rollback(store, "v9")
    with pytest.raises(RegistryError, match="only candidates"):
        registry.mark_rejected(store, "v3", gate_report={})
    assert registry.rollback(store, "v1").status == "deployed"  # already deployed: a no-op


def test_versions_are_immutable_and_parents_must_exist(store: Store) -> None:
    registry.register_candidate(store, "v1", "/m/v1")
    with pytest.raises(RegistryError, match="already registered"):
        registry.register_candidate(store, "v1", "/elsewhere")
    with pytest.raises(RegistryError, match="not registered"):
        registry.register_candidate(store, "v2", "/m/v2", parent_version="ghost")


def test_database_refuses_a_second_deployed_row(store: Store) -> None:
    """The one-deployed rule holds even against code that bypasses the registry."""
    for version in ("v1", "v2"):
        registry.register_candidate(store, version, f"/m/{version}")
    registry.mark_deployed(store, "v1")
    with pytest.raises(IntegrityError), store.session() as session:
        session.execute(
            update(ModelVersionRow).where(ModelVersionRow.version == "v2").values(status="deployed")
        )

"""Deploy and rollback against a real redis-server and broker: registry, pointer, event."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from learner import registry
from learner.deploy import Announcer, deploy, rollback
from learner.exceptions import RegistryError
from learner.store import Store
from schemas.events import ModelDeployed
from stream.serving import read_pointer
from tests.fixtures.stack import StreamEnv


@pytest.mark.integration
def test_deploy_then_rollback_moves_registry_pointer_and_announces(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap, stream_env.stack.redis_url, stream_env.topics
    )
    for version in ("v1", "v2", "v3"):
        (tmp_path / version).mkdir()
        registry.register_candidate(store, version, str(tmp_path / version))
    deploy(store, announcer, "v1", reason="initial")
    deploy(store, announcer, "v2")
    registry.mark_rejected(store, "v3", gate_report={"passed": False})

    event = rollback(store, announcer, "v1")

    assert event.reason == "rollback"
    assert event.previous_version == "v2"
    assert registry.deployed(store).version == "v1"  # type: ignore[union-attr]
    with redis.Redis.from_url(stream_env.stack.redis_url) as client:
        pointer = read_pointer(client, stream_env.namespace)
    assert pointer is not None
    assert pointer.version == "v1"
    assert pointer.model_dir == (tmp_path / "v1").resolve()
    records = stream_env.collect([stream_env.topics.deployed], until=lambda r: len(r) >= 3)
    events = [ModelDeployed.model_validate_json(value) for _, _, value in records]
    assert sorted((e.version, e.reason) for e in events) == [
        ("v1", "initial"),
        ("v1", "rollback"),
        ("v2", "deploy"),
    ]
    with pytest.raises(RegistryError, match="rejected"):
        rollback(store, announcer, "v3")
    assert registry.deployed(store).version == "v1"  # type: ignore[union-attr]
    store.close()

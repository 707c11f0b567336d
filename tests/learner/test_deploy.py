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


@pytest.mark.integration
@pytest.mark.slow
def test_worker_keeps_classifying_through_a_deploy(
    stream_env: StreamEnv, worker_factory, tfidf_model_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """A deploy lands mid-stream: no ticket is lost, none is decided twice by two versions."""
    import json

    from models.artifact import load
    from models.tfidf import TfidfClassifier
    from tests.fixtures.models import read_sample
    from tests.fixtures.stack import ticket_bytes

    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    new_dir = TfidfClassifier(c=3.0).fit(texts[:700], labels[:700]).save(tmp_path / "new")
    old_version, new_version = load(tfidf_model_dir).version, load(new_dir).version
    assert old_version != new_version

    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap, stream_env.stack.redis_url, stream_env.topics
    )
    registry.register_candidate(store, new_version, str(new_dir))
    worker = worker_factory(tfidf_model_dir, TRIAGE_MODEL_POLL_S="0.2")
    producer = stream_env.producer()
    bands = list(stream_env.topics.bands)
    total, deploy_at = 3000, 1000
    for i in range(total):
        body = texts[i % len(texts)]
        producer.produce(stream_env.topics.incoming, value=ticket_bytes(f"S-{i}", body))
        if i == deploy_at:
            producer.flush(10)
            stream_env.collect(bands, until=lambda r: len(r) >= deploy_at // 2, timeout_s=60)
            deploy(store, announcer, new_version)
        if i % 200 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    ids = {f"S-{i}" for i in range(total)}
    records = stream_env.collect(
        bands, until=lambda r: {json.loads(v)["ticket_id"] for *_, v in r} >= ids, timeout_s=180
    )
    worker.stop()
    store.close()
    versions: dict[str, set[str]] = {}
    for *_, value in records:
        decision = json.loads(value)
        versions.setdefault(decision["ticket_id"], set()).add(decision["model_version"])
    assert set(versions) == ids, worker.tail()
    assert all(len(v) == 1 for v in versions.values()), "a ticket was decided by two versions"
    served = {v for vs in versions.values() for v in vs}
    assert served == {old_version, new_version}, served

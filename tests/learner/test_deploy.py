"""Deploy and rollback against a real redis-server and broker: registry, pointer, event."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from learner.deploy import Announcer, deploy, rollback
from schemas.events import ModelDeployed
from schemas.topics import Topics
from store import RegistryError, Store, registry
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
def test_a_deploy_writes_the_fitted_thresholds_before_the_pointer_moves(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    from learner.thresholds import ThresholdPolicy
    from models.threshold_set import read_fitted

    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap,
        stream_env.stack.redis_url,
        stream_env.topics,
        thresholds=ThresholdPolicy(min_reviews=5),
    )
    (tmp_path / "v1").mkdir()
    registry.register_candidate(store, "v1", str(tmp_path / "v1"))
    deploy(store, announcer, "v1", reason="initial")
    fitted = read_fitted(tmp_path / "v1")
    assert fitted is not None
    assert fitted.model_version == "v1"
    assert fitted.min_reviews == 5
    assert fitted.classes == {}, "nobody reviewed anything yet: every class on the default"
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


def registered(tmp_path: Path, versions: tuple[str, ...]) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    for version in versions:
        (tmp_path / version).mkdir()
        registry.register_candidate(store, version, str(tmp_path / version))
    return store


def pointer_version(env: StreamEnv) -> str | None:
    with redis.Redis.from_url(env.stack.redis_url) as client:
        pointer = read_pointer(client, env.namespace)
    return None if pointer is None else pointer.version


@pytest.mark.integration
def test_two_learners_deploying_at_once_take_turns(
    stream_env: StreamEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two learners started by mistake deploy v2 and v3 at the same moment. The registry
    change is slowed so that, unlocked, the two would interleave (registry naming one version,
    the pointer the other); under the lock each runs registry-to-announce alone."""
    import threading
    import time

    store = registered(tmp_path, ("v1", "v2", "v3"))
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap, stream_env.stack.redis_url, stream_env.topics
    )
    deploy(store, announcer, "v1", reason="initial")
    spans: dict[str, list[float]] = {}
    real_mark, real_announce = Store.mark_deployed, Announcer.announce

    def slow_mark(store: Store, version: str, **kwargs: object) -> registry.ModelRecord:
        spans[version] = [time.monotonic()]
        record = real_mark(store, version, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.5)  # between the registry and the pointer: where the race lives
        return record

    def timed_announce(self: Announcer, event: ModelDeployed) -> None:
        real_announce(self, event)
        spans[event.version].append(time.monotonic())

    monkeypatch.setattr(Store, "mark_deployed", slow_mark)  # the method deploy calls
    monkeypatch.setattr(Announcer, "announce", timed_announce)
    start = threading.Barrier(2, timeout=30)
    events: dict[str, ModelDeployed] = {}
    errors: list[BaseException] = []
    # each learner its own connection, opened (and migrated) here: not racing in the threads
    stores = {v: Store.open(f"sqlite:///{tmp_path / 'store.db'}") for v in ("v2", "v3")}

    def learner(version: str) -> None:
        try:
            start.wait()
            events[version] = deploy(stores[version], announcer, version)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=learner, args=(v,), daemon=True) for v in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for own in stores.values():
        own.close()

    assert not errors, errors
    assert set(events) == {"v2", "v3"}
    first, second = sorted(events.values(), key=lambda e: spans[e.version][0])
    assert spans[first.version][1] <= spans[second.version][0], f"overlapped: {spans}"
    assert first.previous_version == "v1"
    assert second.previous_version == first.version
    assert registry.deployed(store).version == second.version  # type: ignore[union-attr]
    assert pointer_version(stream_env) == second.version
    store.close()


@pytest.mark.integration
def test_a_deploy_that_cannot_get_the_lock_changes_nothing(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    from bus import RedisLock
    from learner.deploy import DeployBusy

    store = registered(tmp_path, ("v1", "v2"))
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap,
        stream_env.stack.redis_url,
        stream_env.topics,
        lock_wait_s=0.2,
    )
    deploy(store, announcer, "v1", reason="initial")
    with (
        redis.Redis.from_url(stream_env.stack.redis_url) as client,
        RedisLock(client, announcer.lock_key("deploy")) as other,
    ):
        with pytest.raises(DeployBusy) as caught:
            deploy(store, announcer, "v2")
        with pytest.raises(DeployBusy):
            rollback(store, announcer, "v1")
    assert other.token in str(caught.value)
    assert "one learner replica" in str(caught.value)
    assert registry.deployed(store).version == "v1"  # type: ignore[union-attr]
    assert pointer_version(stream_env) == "v1"
    store.close()


def test_deploy_without_redis_changes_nothing(tmp_path: Path) -> None:
    """The lock is taken first, so an unreachable redis now fails before the registry moves
    (it used to leave the registry saying deployed and the workers untold)."""
    from learner.deploy import DeployError

    store = registered(tmp_path, ("v1",))
    announcer = Announcer("127.0.0.1:1", "redis://127.0.0.1:1/0", Topics("none."))
    with pytest.raises(DeployError, match="nothing was changed"):
        deploy(store, announcer, "v1", reason="initial")
    assert registry.deployed(store) is None
    store.close()


@pytest.mark.integration
def test_a_second_training_run_is_skipped_while_one_holds_the_lock(
    stream_env: StreamEnv,
) -> None:
    from bus import RedisLock
    from learner.deploy import run_exclusively

    announcer = Announcer(
        stream_env.stack.kafka_bootstrap, stream_env.stack.redis_url, stream_env.topics
    )
    ran: list[str] = []
    with (
        redis.Redis.from_url(stream_env.stack.redis_url) as client,
        RedisLock(client, announcer.lock_key("training")),
    ):
        assert run_exclusively(announcer, lambda: ran.append("second")) is None

    def first() -> str:
        ran.append("first")
        return "done"

    assert run_exclusively(announcer, first) == "done"
    assert ran == ["first"]


@pytest.mark.integration
def test_a_deploy_that_gives_up_inside_a_training_run_is_not_a_skip(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    """Only the training lock being held means "skip"; the run's own deploy timing out is
    an error the service must see."""
    from bus import RedisLock
    from learner.deploy import DeployBusy, run_exclusively

    store = registered(tmp_path, ("v1",))
    announcer = Announcer(
        stream_env.stack.kafka_bootstrap,
        stream_env.stack.redis_url,
        stream_env.topics,
        lock_wait_s=0.1,
    )
    with (
        redis.Redis.from_url(stream_env.stack.redis_url) as client,
        RedisLock(client, announcer.lock_key("deploy")),
        pytest.raises(DeployBusy),
    ):
        run_exclusively(announcer, lambda: deploy(store, announcer, "v1", reason="initial"))
    assert registry.deployed(store) is None
    store.close()

"""Fault drills for the worker: the broker or redis goes away mid-stream and comes back.

Each drill runs against a broker or redis-server of its own (``tests/fixtures/faults.py``), so
killing it cannot hurt other tests. What every drill asserts is the worker's promise: no ticket
is lost, and copies of a decision are byte-identical.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from ops.stack import StackInfo
from schemas.topics import Topics
from tests.fixtures.faults import OwnBroker, OwnRedis
from tests.fixtures.stack import PARTITIONS, StreamEnv, WorkerProcess, Workers, ticket_bytes
from tests.stream.test_worker import by_ticket, sample_texts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def create_topics(env: StreamEnv) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": env.stack.kafka_bootstrap})
    names = [env.topics.incoming, *env.topics.bands, env.topics.dead_letter]
    for future in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result(timeout=10)


def drill_env(bootstrap: str, redis_url: str, tmp_path: Path) -> StreamEnv:
    run = uuid.uuid4().hex[:12]
    stack = StackInfo(bootstrap, redis_url, f"sqlite:///{tmp_path}/t.db", tmp_path / "env")
    env = StreamEnv(stack=stack, topics=Topics(prefix=f"d{run}."), group_id=f"drill-{run}")
    create_topics(env)
    return env


def start_worker(env: StreamEnv, model_dir: Path, workers: Workers) -> WorkerProcess:
    worker = workers.start(env, model_dir)
    worker.wait_ready()
    return worker


def produce(env: StreamEnv, ids: list[str], texts: list[str]) -> None:
    producer = env.producer()
    for i, tid in enumerate(ids):
        producer.produce(env.topics.incoming, key=tid, value=ticket_bytes(tid, texts[i % 400]))
    assert producer.flush(30) == 0  # type: ignore[attr-defined]


def test_broker_restart_loses_no_ticket(
    own_broker: OwnBroker,
    tfidf_model_dir: Path,
    sample_dir: Path,
    tmp_path: Path,
    workers: Workers,
) -> None:
    """The broker restarts empty (tansu keeps nothing): tickets sent after it are all decided.

    On the old code the worker counted 1,000 tickets as published and marked them in redis
    while none reached a band topic, so a re-delivery would have skipped them too.
    """
    texts = sample_texts(sample_dir)
    env = drill_env(own_broker.bootstrap, "redis://127.0.0.1:6379/0", tmp_path)
    worker = start_worker(env, tfidf_model_dir, workers)
    bands = list(env.topics.bands)
    produce(env, [f"B-{i}" for i in range(100)], texts)
    before = env.collect(bands, until=lambda r: len(by_ticket(r)) >= 100, timeout_s=60)
    assert len(by_ticket(before)) == 100, worker.tail()

    own_broker.restart()
    # nothing is re-created by hand: the producer's first send auto-creates tickets.incoming,
    # and the band topics are the worker's to verify
    after_ids = [f"A-{i}" for i in range(1000)]
    produce(env, after_ids, texts)
    deadline = time.monotonic() + 120
    found: dict[str, list[bytes]] = {}
    while time.monotonic() < deadline:
        records = env.collect(bands, until=lambda r: len(by_ticket(r)) >= 1000, timeout_s=5)
        found = by_ticket(records)
        if len(found) >= 1000:
            break
        if worker.proc is not None and worker.proc.poll() is not None:
            # a worker may stop loudly instead of counting; its supervisor restarts it
            worker = start_worker(env, tfidf_model_dir, workers)
    assert set(found) == set(after_ids), f"{len(found)} of 1000 decided\n{worker.tail()}"
    assert all(len(set(copies)) == 1 for copies in found.values())
    worker.stop()


def test_redis_restart_keeps_redeliveries_identical(
    own_redis: OwnRedis,
    stack_info: StackInfo,
    tfidf_model_dir: Path,
    sample_dir: Path,
    tmp_path: Path,
    workers: Workers,
) -> None:
    """redis is killed mid-stream and restarted; tickets sent again get the same bytes.

    On the old code redis kept nothing across a restart, so a re-sent ticket was decided afresh
    (another ``decided_at``, another ``received_at``).
    """
    texts = sample_texts(sample_dir)
    env = drill_env(stack_info.kafka_bootstrap, own_redis.url, tmp_path)
    worker = start_worker(env, tfidf_model_dir, workers)
    bands = list(env.topics.bands)
    ids = [f"R-{i}" for i in range(300)]
    produce(env, ids, texts)
    first = by_ticket(env.collect(bands, until=lambda r: len(by_ticket(r)) >= 300))
    assert len(first) == 300, worker.tail()

    own_redis.restart()
    if worker.proc is not None and worker.proc.poll() is None:
        worker.stop()
    worker = start_worker(env, tfidf_model_dir, workers)
    produce(env, [*ids, "marker"], texts)  # the integration re-sends everything
    records = env.collect(bands, until=lambda r: "marker" in by_ticket(r), settle_s=3.0)
    worker.stop()
    found = by_ticket(records)
    assert set(found) == {*ids, "marker"}
    differing = [tid for tid in ids if len(set(found[tid])) != 1]
    assert not differing, f"{len(differing)} re-sent tickets got another decision: {differing[:3]}"
    assert all(json.loads(found[tid][0])["ticket_id"] == tid for tid in ids)

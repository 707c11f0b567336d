"""Every client over TLS with a CA file, against the embedded broker behind a TLS front.

The worker (faust consumer + the acked producer + the topic guard), ``triage produce``,
``triage correct`` and the web's broker reads (consumer lag, the dead-letter tail) all connect
to the TLS port only, with ``TRIAGE_KAFKA_SECURITY_PROTOCOL=SSL``; a plaintext client is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from bus import DeadLetterTail, KafkaSecurity, consumer_lag
from schemas.topics import Topics
from tests.fixtures.stack import WorkerProcess
from tests.fixtures.tls import TlsBroker

pytestmark = pytest.mark.integration

PARTITIONS = 2


def security(broker: TlsBroker) -> KafkaSecurity:
    return KafkaSecurity(protocol="SSL", ca_file=broker.ca_file)


async def create_topics(broker: TlsBroker, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=broker.bootstrap, **security(broker).aiokafka_options()
    )
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def read(
    broker: TlsBroker, topics: list[str], want: int, timeout_s: float = 60
) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        **security(broker).aiokafka_options(),
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout_s
        while len(values) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return values


def cli_env(broker: TlsBroker, topics: Topics, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(broker.env(), TRIAGE_TOPIC_PREFIX=topics.prefix, TRIAGE_PARTITIONS=str(PARTITIONS))
    env.update(extra)
    return env


async def connect(broker: TlsBroker, with_security: KafkaSecurity) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=broker.bootstrap,
        request_timeout_ms=3000,
        **with_security.aiokafka_options(),
    )
    try:
        await admin.start()
    finally:
        await admin.close()


def test_a_plaintext_client_is_refused(tls_broker: TlsBroker) -> None:
    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect(tls_broker, KafkaSecurity()))


def test_a_client_without_the_ca_is_refused(tls_broker: TlsBroker) -> None:
    """Verification is on: a certificate nobody vouched for is not accepted."""

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect(tls_broker, KafkaSecurity(protocol="SSL")))


@pytest.mark.slow
def test_worker_produce_correct_and_web_reads_over_tls(
    tls_broker: TlsBroker, tfidf_model_dir: Path, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    topics = Topics(prefix=f"tls{run}.")
    asyncio.run(
        create_topics(
            tls_broker, [topics.incoming, *topics.bands, topics.dead_letter, topics.corrections]
        )
    )
    env = cli_env(
        tls_broker,
        topics,
        TRIAGE_GROUP_ID=f"tls-{run}",
        TRIAGE_MODEL_DIR=str(tfidf_model_dir),
        TRIAGE_DEVICE="cpu",
        TRIAGE_DATA_DIR=str(tmp_path / "faust"),
    )
    worker = WorkerProcess(
        argv=[sys.executable, "-P", "-m", "ops.cli", "worker"],
        env=env,
        cwd=tmp_path,
        log=tmp_path / "w.log",
    ).start()
    try:
        worker.wait_ready()
        export = tmp_path / "tickets.jsonl"
        export.write_text(
            "\n".join(
                json.dumps({"ticket_id": f"S-{i}", "body": "my card was declined"})
                for i in range(20)
            )
        )
        produced = subprocess.run(
            [sys.executable, "-P", "-m", "ops.cli", "produce", str(export)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert produced.returncode == 0, produced.stderr
        decisions = asyncio.run(read(tls_broker, list(topics.bands), 20))
        assert {json.loads(v)["ticket_id"] for v in decisions} == {f"S-{i}" for i in range(20)}, (
            worker.tail()
        )

        corrected = subprocess.run(
            [sys.executable, "-P", "-m", "ops.cli", "correct", "S-1", "cards", "--reviewer", "ana"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert corrected.returncode == 0, corrected.stderr
        (correction,) = asyncio.run(read(tls_broker, [topics.corrections], 1))
        assert json.loads(correction)["ticket_id"] == "S-1"

        # the web's reads: true lag of the worker group, and the dead-letter tail
        producer_env = subprocess.run(
            [
                sys.executable,
                "-c",
                PRODUCE_BAD,
                tls_broker.bootstrap,
                str(tls_broker.ca_file),
                topics.incoming,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert producer_env.returncode == 0, producer_env.stderr
        lags = wait_for_lag(tls_broker, topics, f"tls-{run}")
        assert {lag.partition for lag in lags} == set(range(PARTITIONS))
        tail = DeadLetterTail(tls_broker.bootstrap, security(tls_broker), topics.dead_letter)
        asyncio.run(run_tail(tail))
        assert tail.total == 1
        assert tail.counts["not_json"] == 1
    finally:
        worker.stop()


PRODUCE_BAD = """
import asyncio, sys
from bus import AckedProducer, KafkaSecurity, ProducerConfig
from pathlib import Path
async def main():
    security = KafkaSecurity(protocol="SSL", ca_file=Path(sys.argv[2]))
    p = AckedProducer(ProducerConfig(sys.argv[1], security))
    await p.start()
    await p.publish(sys.argv[3], b"bad", b"this is not json")
    await p.stop()
asyncio.run(main())
"""


def wait_for_lag(broker: TlsBroker, topics: Topics, group: str) -> list:
    deadline = time.monotonic() + 30
    lags: list = []
    while time.monotonic() < deadline:
        lags = asyncio.run(
            consumer_lag(broker.bootstrap, security(broker), topics.incoming, PARTITIONS, group)
        )
        if len(lags) == PARTITIONS and all(lag.committed is not None for lag in lags):
            return lags
        time.sleep(1)
    return lags


async def run_tail(tail: DeadLetterTail) -> None:
    tail.start()
    deadline = time.monotonic() + 30
    while tail.total < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await tail.stop()


def test_redis_over_tls_with_a_ca_file(tls_broker: TlsBroker, tmp_path: Path) -> None:
    """``rediss://`` + ``TRIAGE_REDIS_SSL_CA_FILE``: the same socat front, before redis."""
    from bus import ConnectionSettings, redis_client
    from ops.stack import free_port
    from tests.fixtures.tls import self_signed, wait_port

    cert, key = self_signed(tmp_path)
    port = free_port()
    front = subprocess.Popen(
        [
            "socat",
            f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={cert},key={key},verify=0",
            "TCP:127.0.0.1:6379",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        settings = ConnectionSettings(  # type: ignore[call-arg]
            _env_file=None, redis_url=f"rediss://127.0.0.1:{port}/0", redis_ssl_ca_file=cert
        )
        with redis_client(settings) as client:
            assert client.ping()
    finally:
        front.terminate()
        front.wait(timeout=10)

"""The worker's own probe server: readiness names what is down, metrics count acked work."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bus import DriftBoard, readiness
from schemas import DriftSummary
from tests.fixtures.stack import StreamEnv, free_port, ticket_bytes
from tests.stream.test_worker import by_ticket, sample_texts


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def wait_for(url: str, timeout_s: float = 120.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_readiness_names_the_failing_dependency() -> None:
    async def ok() -> str:
        return "fine"

    async def down() -> str:
        raise ConnectionError("connection refused to 127.0.0.1:1")

    ready, report = asyncio.run(readiness({"redis": ok, "broker": down}))
    assert not ready
    assert report["redis"] == "ok: fine"
    assert report["broker"].startswith("error: ConnectionError: connection refused")


@pytest.mark.integration
def drift_board(env: StreamEnv, timeout_s: float = 40.0) -> list[DriftSummary]:
    """The drift board of ``env``'s deployment once a worker published to it (every 10 s)."""

    async def read() -> list[DriftSummary]:
        client = aioredis.Redis.from_url(env.stack.redis_url)
        try:
            return await DriftBoard(client, namespace=env.topics.prefix).summaries()
        finally:
            await client.aclose()

    deadline = time.monotonic() + timeout_s
    while not (found := asyncio.run(read())) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def model_version(metrics_text: str) -> str:
    line = next(x for x in metrics_text.splitlines() if x.startswith("triage_worker_model_info{"))
    return line.split('version="', 1)[1].split('"', 1)[0]


def test_worker_probes_and_metrics_count_its_decisions(
    stream_env: StreamEnv, worker_factory, sample_dir: Path
) -> None:
    port = free_port()
    worker = worker_factory(TRIAGE_PROBE_PORT=str(port), TRIAGE_LOG_FORMAT="json")
    base = f"http://127.0.0.1:{port}"
    assert wait_for(f"{base}/healthz")[0] == 200

    producer = stream_env.producer()
    texts = sample_texts(sample_dir)
    for i in range(60):
        producer.produce(
            stream_env.topics.incoming, key=f"P-{i}", value=ticket_bytes(f"P-{i}", texts[i])
        )
    producer.produce(stream_env.topics.incoming, key="bad", value=b"{not json")
    assert producer.flush(30) == 0
    decided = stream_env.collect(
        list(stream_env.topics.bands), until=lambda r: len(by_ticket(r)) >= 60
    )
    assert len(by_ticket(decided)) == 60

    status, body = get(f"{base}/readyz")
    report = json.loads(body)
    assert status == 200, report
    assert set(report["checks"]) == {"redis", "broker", "model"}

    deadline = time.monotonic() + 20
    while True:  # the dead letter's batch may be acked a moment after the decisions were read
        status, text = get(f"{base}/metrics")
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("triage_worker_decisions_total{")
        )
        letters = sample(text, "triage_worker_dead_letters_total", kind="not_json")
        if (counted, letters) == (60, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    board = drift_board(stream_env)  # the worker's drift publisher, for the web and the CLI
    worker.stop()
    assert status == 200
    assert [(s.model_version, s.state) for s in board] == [(model_version(text), "unknown")]
    assert counted == 60, text
    assert letters == 1, text
    assert sample(text, "triage_worker_decision_latency_seconds_count") == 60
    assert "triage_worker_model_info{version=" in text
    assert "triage_worker_consumer_lag{" in text
    # tfidf_model_dir predates drift references: the worker serves it, drift is unknown
    assert 'triage_worker_drift_state{state="unknown",version=' in text

    lines = [line for line in worker.log.read_text("utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # TRIAGE_LOG_FORMAT=json: every line
    assert {"ts", "level", "service", "logger", "message"} <= set(records[0])
    assert {r["service"] for r in records} == {"worker"}
    assert any("Ready" in r["message"] for r in records)

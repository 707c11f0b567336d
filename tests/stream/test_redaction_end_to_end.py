"""Issue 10's redaction row end to end on the embedded stack: a ticket with a dotted card, an
NBSP-separated card, a lowercase IBAN and a US SSN goes through the real `triage worker`; the
band topic, redis and (through the real `triage learner`) SQL hold it redacted. A correction
whose note carries a card and an email, published raw by some integration, is stored redacted."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from schemas.events import Correction, Decision
from store import Store
from store.tables import CorrectionRow, DecisionRow
from tests.fixtures.stack import StreamEnv, ticket_bytes

pytestmark = pytest.mark.integration

SUBJECT = "refund to gb82 west 1234 5698 7654 32 please"
BODY = (
    "I was charged twice on 4111.1111.1111.1111 and on 5555\u00a05555\u00a05555\u00a04444. "
    "My SSN is 123-45-6789 if you need it. Order #88231 of 2024-03-05, $41.20."
)
NOTE = "customer pasted 4111 1111 1111 1111, reply to jo.doe@example.com"
SECRETS = ("4111", "5555", "4444", "gb82", "west", "123-45", "6789", "jo.doe", "example.com")


def leaked(data: bytes | str | None) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data or ""
    return [secret for secret in SECRETS if secret in text.lower()]


def redis_values(client: redis.Redis, namespace: str) -> dict[str, str]:
    """Every string, hash, list and set value under this test's namespace, joined per key."""
    found: dict[str, str] = {}
    for key in client.scan_iter(match=f"*{namespace}*"):
        kind = client.type(key)
        items: list[Any] = []
        if kind == b"string":
            items = [client.get(key)]
        elif kind == b"hash":
            items = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == b"list":
            items = list(client.lrange(key, 0, -1))
        elif kind == b"set":
            items = list(client.smembers(key))
        found[_text(key)] = " ".join(_text(item) for item in items)
    return found


def _text(item: Any) -> str:
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while not what():
        assert proc.poll() is None, log.read_text("utf-8", "replace")
        assert time.monotonic() < deadline, log.read_text("utf-8", "replace")[-4000:]
        time.sleep(0.3)


@pytest.fixture
def learner(
    stream_env: StreamEnv, tfidf_model_dir: Path, tmp_path: Path
) -> Iterator[tuple[Store, subprocess.Popen[bytes], Path]]:
    """`triage learner` on this test's topics, recording into a fresh SQLite file."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = stream_env.worker_env(
        tfidf_model_dir,
        TRIAGE_DATABASE_URL=url,
        TRIAGE_GROUP_ID=f"learner-{stream_env.group_id}",
        TRIAGE_DATA_DIR=str(tmp_path / "learner-faust"),
        TRIAGE_RETRAIN_AFTER="1000",
        TRIAGE_GOLD_DIR=str(tmp_path / "gold"),
        TRIAGE_REGISTRY_DIR=str(tmp_path / "models"),
    )
    log = tmp_path / "learner.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ops.cli", "learner"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    store = Store.open(url)
    try:
        yield store, proc, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        store.close()


def test_pii_reaches_topic_redis_and_sql_redacted(
    stream_env: StreamEnv,
    worker_factory: Callable[..., Any],
    learner: tuple[Store, subprocess.Popen[bytes], Path],
) -> None:
    store, proc, log = learner
    worker = worker_factory()
    producer = stream_env.producer()
    raw = ticket_bytes("pii-1", BODY, subject=SUBJECT)
    assert leaked(raw)  # the input does carry all of it
    producer.produce(stream_env.topics.incoming, key="pii-1", value=raw)  # type: ignore[attr-defined]
    producer.flush(10)  # type: ignore[attr-defined]
    bands = list(stream_env.topics.bands)
    (record,) = stream_env.collect(bands, until=lambda r: len(r) >= 1, settle_s=1.0)
    decision = Decision.model_validate_json(record[2])
    assert leaked(record[2]) == [], record[2]
    assert decision.subject == "refund to [ACCOUNT] please"
    assert "[CARD] and on [CARD]" in decision.body
    assert "[SSN]" in decision.body
    assert "Order #88231 of 2024-03-05, $41.20." in decision.body  # not personal: kept

    cached = redis_values(redis.Redis.from_url(stream_env.stack.redis_url), stream_env.namespace)
    assert any("pii-1" in key or "[CARD]" in value for key, value in cached.items()), cached
    assert {key: leaked(value) for key, value in cached.items() if leaked(value)} == {}

    def stored() -> bool:
        with store.session() as session:
            return session.scalar(select(DecisionRow.text)) is not None

    wait_for(stored, proc, log)
    with store.session() as session:
        text = session.scalar(select(DecisionRow.text))
    assert leaked(text) == []
    assert "[CARD]" in (text or "")

    note = Correction(
        ticket_id="pii-1", label=decision.label, reviewer="ana", action="confirm", note=NOTE
    )
    producer.produce(stream_env.topics.corrections, note.model_dump_json().encode(), b"pii-1")  # type: ignore[attr-defined]
    producer.flush(10)  # type: ignore[attr-defined]

    def noted() -> bool:
        with store.session() as session:
            return session.scalar(select(CorrectionRow.note)) is not None

    wait_for(noted, proc, log)
    with store.session() as session:
        assert session.scalar(select(CorrectionRow.note)) == (
            "customer pasted [CARD], reply to [EMAIL]"
        )
    worker.stop()

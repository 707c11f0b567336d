"""The worker end to end: a real broker, a real redis-server, `triage worker` as a subprocess."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from schemas.events import DeadLetter, Decision
from tests.fixtures.stack import StreamEnv, ticket_bytes

pytestmark = pytest.mark.integration


def sample_texts(sample_dir: Path) -> list[str]:
    with (sample_dir / "banking77_test.csv").open(newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


#: (key, value) of every kind of bad input the issue lists, and then some.
MALFORMED: list[tuple[bytes | None, bytes | None]] = [
    (b"bad-1", b"\xff\xfe\x00 not utf-8"),
    (b"bad-2", b"\xc3\x28"),
    (b"bad-3", b"this is not json"),
    (b"bad-4", b'{"ticket_id": "x", "body": '),
    (b"bad-5", b"[1, 2, 3]"),
    (b"bad-6", b'"just a string"'),
    (b"bad-7", b"42"),
    (b"bad-8", b"null"),
    (b"bad-9", b'{"body": "no id here"}'),
    (b"bad-10", b'{"ticket_id": "bad-10"}'),
    (b"bad-11", b'{"ticket_id": 11, "body": "id is a number"}'),
    (b"bad-12", b'{"ticket_id": "bad-12", "body": ["a", "list"]}'),
    (b"bad-13", b'{"ticket_id": "bad-13", "body": ""}'),
    (b"bad-14", b'{"ticket_id": "bad-14", "body": "   \\n\\t "}'),
    (b"bad-15", ticket_bytes("bad-15", "x" * 70_000)),
    (b"bad-16", b'{"ticket_id": "", "body": "blank id"}'),
    (b"bad-17", b'{"ticket_id": null, "body": "null id"}'),
    (b"bad-18", b'{"ticket_id": "bad-18", "body": null}'),
    (b"bad-19", b""),
    (None, b"{}"),
]


def served(stream_env: StreamEnv, worker: Any, texts: list[str], prefix: str) -> list[Decision]:
    """Publish ``texts`` as tickets ``<prefix>-<i>`` and read every band topic until each one
    has its decision; the worker is stopped afterwards."""
    producer = stream_env.producer()
    for i, text in enumerate(texts):
        key = f"{prefix}-{i}"
        producer.produce(stream_env.topics.incoming, key=key, value=ticket_bytes(key, text))
    assert producer.flush(10) == 0
    records = stream_env.collect(
        list(stream_env.topics.bands), until=lambda r: len(by_ticket(r)) >= len(texts)
    )
    worker.stop()
    return [Decision.model_validate_json(v) for *_, v in records]


def by_ticket(records: list[tuple[str, bytes | None, bytes]]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = defaultdict(list)
    for _topic, key, value in records:
        found[json.loads(value)["ticket_id"]].append(value)
        assert key is not None
        assert key.decode() == json.loads(value)["ticket_id"]
    return found


def test_thousand_tickets_and_twenty_malformed(
    stream_env: StreamEnv, worker_factory, sample_dir: Path
) -> None:
    """The issue's acceptance test, with an external librdkafka producer."""
    texts = sample_texts(sample_dir)
    worker = worker_factory()
    producer = stream_env.producer()
    incoming = stream_env.topics.incoming
    for i in range(1000):
        producer.produce(
            incoming, key=f"T-{i}", value=ticket_bytes(f"T-{i}", texts[i % len(texts)])
        )
        if i % 50 == 0:
            key, value = MALFORMED[i // 50]
            producer.produce(incoming, key=key, value=value)
    assert producer.flush(30) == 0

    decisions = stream_env.collect(
        list(stream_env.topics.bands), until=lambda r: len(by_ticket(r)) >= 1000, settle_s=2.0
    )
    letters = stream_env.collect(
        [stream_env.topics.dead_letter], until=lambda r: len(r) >= 20, settle_s=1.0
    )
    worker.stop()

    found = by_ticket(decisions)
    assert set(found) == {f"T-{i}" for i in range(1000)}, worker.tail()
    for topic, _key, value in decisions:
        decision = Decision.model_validate_json(value)
        assert stream_env.topics.band(decision.band) == topic
        assert decision.label
        assert decision.model_version
        assert 0 <= decision.confidence <= 1
        assert decision.received_at is not None
    assert all(len(set(copies)) == 1 for copies in found.values())

    assert len(letters) == 20
    dead = [DeadLetter.model_validate_json(value) for _t, _k, value in letters]
    assert all(d.reason and d.topic == incoming and d.stage == "classify" for d in dead)
    originals = {hashlib.sha256(value or b"").hexdigest(): value or b"" for _k, value in MALFORMED}
    assert {d.payload_sha256 for d in dead} == set(originals)
    for letter in dead:  # the whole original, or (over 16 KiB) its prefix, plus size and hash
        original = originals[letter.payload_sha256]
        assert letter.payload_bytes == len(original)
        assert original.startswith(letter.original_bytes())
        assert letter.truncated == (letter.original_bytes() != original)
    assert worker.exit_codes == [0]


def test_same_ticket_twice_is_classified_once(
    stream_env: StreamEnv, worker_factory, sample_dir: Path
) -> None:
    worker = worker_factory()
    producer = stream_env.producer()
    body = sample_texts(sample_dir)[0]
    producer.produce(stream_env.topics.incoming, key="dup-1", value=ticket_bytes("dup-1", body))
    producer.flush(10)
    bands = list(stream_env.topics.bands)
    first = stream_env.collect(bands, until=lambda r: len(r) >= 1)
    # again, once decided, and a different body: still the first decision, not a second one
    producer.produce(stream_env.topics.incoming, key="dup-1", value=ticket_bytes("dup-1", "hi"))
    producer.produce(stream_env.topics.incoming, key="marker", value=ticket_bytes("marker", body))
    producer.flush(10)
    after = stream_env.collect(bands, until=lambda r: "marker" in by_ticket(r), settle_s=2.0)
    worker.stop()

    assert len(first) == 1
    assert [v for v in by_ticket(after)["dup-1"]] == [first[0][2]]


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing(
    stream_env: StreamEnv, worker_factory, sample_dir: Path
) -> None:
    """Kill -9 while thousands are in flight, restart: every ticket decided, copies identical."""
    total = 4000
    texts = sample_texts(sample_dir)
    producer = stream_env.producer()
    for i in range(total):
        producer.produce(
            stream_env.topics.incoming, key=f"K-{i}", value=ticket_bytes(f"K-{i}", texts[i % 420])
        )
    assert producer.flush(30) == 0

    bands = list(stream_env.topics.bands)
    first = worker_factory(TRIAGE_BATCH_MAX="16")
    partial = stream_env.collect(bands, until=lambda r: len(r) >= total // 5, timeout_s=120)
    first.kill()
    assert total // 5 <= len(by_ticket(partial)) < total, "worker finished before the kill"

    second = worker_factory()
    records = stream_env.collect(bands, until=lambda r: len(by_ticket(r)) >= total, settle_s=3.0)
    second.stop()

    found = by_ticket(records)
    assert set(found) == {f"K-{i}" for i in range(total)}, second.tail()
    assert all(len(set(copies)) == 1 for copies in found.values()), "a duplicate differs"
    assert first.exit_codes == [-9]


def test_deployed_model_is_swapped_in_between_batches(
    stream_env: StreamEnv, worker_factory, tfidf_model_dir: Path, tmp_path: Path
) -> None:
    """Moving the redis model pointer makes the running worker serve the new model."""
    import redis

    from bus import ModelPointer

    deployed = Path(shutil.copytree(tfidf_model_dir, tmp_path / "deployed"))
    manifest = json.loads((deployed / "manifest.json").read_text())
    manifest["version"] = "swap-test-v2"
    (deployed / "manifest.json").write_text(json.dumps(manifest))

    worker = worker_factory(TRIAGE_MODEL_POLL_S="0.5")
    producer = stream_env.producer()
    bands = list(stream_env.topics.bands)
    producer.produce(stream_env.topics.incoming, value=ticket_bytes("before", "card lost"))
    producer.flush(10)
    (before,) = stream_env.collect(bands, until=lambda r: len(r) >= 1)
    assert json.loads(before[2])["model_version"] != "swap-test-v2"

    client = redis.Redis.from_url(stream_env.stack.redis_url)
    key = ModelPointer.key(stream_env.namespace)
    client.set(key, ModelPointer("swap-test-v2", deployed).to_json())
    versions: dict[str, str] = {}
    for i in range(40):  # one ticket at a time until the new model answers (polls every 0.5 s)
        producer.produce(stream_env.topics.incoming, value=ticket_bytes(f"after-{i}", "fx rate"))
        producer.flush(10)
        records = stream_env.collect(bands, until=lambda r, n=i + 2: len(r) >= n, timeout_s=20)
        versions = {json.loads(v)["ticket_id"]: json.loads(v)["model_version"] for *_, v in records}
        if versions[f"after-{i}"] == "swap-test-v2":
            break
    worker.stop()
    assert "swap-test-v2" in versions.values(), worker.tail()


@pytest.mark.slow
def test_worker_serves_the_lora_transformer_through_the_same_loader(
    stream_env: StreamEnv, worker_factory, lora_model_dir: Path, sample_dir: Path
) -> None:
    texts = sample_texts(sample_dir)[:40]
    decisions = served(stream_env, worker_factory(model_dir=lora_model_dir), texts, "L")
    manifest = json.loads((lora_model_dir / "manifest.json").read_text())
    assert {d.ticket_id for d in decisions} == {f"L-{i}" for i in range(len(texts))}
    assert {d.model_version for d in decisions} == {manifest["version"]}


def test_a_worker_with_no_model_says_to_run_init(
    stream_env: StreamEnv, workers, tmp_path: Path
) -> None:
    """A fresh deployment (no redis pointer, no model directory) must not crash-loop mutely."""
    worker = workers.start(stream_env, tmp_path / "no-model-here")
    assert worker.proc is not None
    code = worker.proc.wait(timeout=120)
    assert code != 0
    assert "triage init" in worker.tail(), worker.tail()


def test_every_head_of_a_hierarchy_reaches_the_band_topics(
    stream_env: StreamEnv, worker_factory, hierarchy_model_dir: Path, sample_dir: Path
) -> None:
    texts = sample_texts(sample_dir)[:30]
    decisions = served(stream_env, worker_factory(model_dir=hierarchy_model_dir), texts, "H")
    parent_of = json.loads((sample_dir / "teams.json").read_text())["teams"]
    team_of = {i.lower(): team for team, intents in parent_of.items() for i in intents}
    assert {d.ticket_id for d in decisions} == {f"H-{i}" for i in range(len(texts))}
    for decision in decisions:
        assert team_of[decision.heads["intent"].label] == decision.label

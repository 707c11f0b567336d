"""The classify stage against a real redis-server, with a recorder in place of the producer."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pytest
import redis.asyncio as aioredis

from bus import MAX_PAYLOAD_BYTES, DecisionCache
from models.artifact import load
from models.bands import ThresholdOverrides
from schemas.events import DeadLetter, Decision
from stream.agents import ClassifyStage
from stream.serving import ModelHolder
from stream.worker import install_classify
from tests.fixtures.stack import StreamEnv, ticket_bytes

pytestmark = pytest.mark.integration


@dataclass
class Message:
    value: bytes | None
    key: bytes | None
    topic: str = "tickets.incoming"
    partition: int = 0
    offset: int = 0
    timestamp: float = 1_767_225_600.0


@dataclass
class Event:
    message: Message


class Recorder:
    """Stands in for the producer: records (topic, key, value); every send is acked at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def make_stage(env: StreamEnv, model_dir: Path) -> ClassifyStage:
    return ClassifyStage(
        holder=ModelHolder(load(model_dir, "cpu")),
        cache=DecisionCache(
            aioredis.Redis.from_url(env.stack.redis_url), namespace=env.namespace, ttl_s=60
        ),
        thresholds=ThresholdOverrides(),
        max_body_bytes=1000,
        topics=env.topics,
        executor=ThreadPoolExecutor(max_workers=1),
    )


def events(*values: bytes | None) -> list[Event]:
    return [Event(Message(value=v, key=b"k", offset=i)) for i, v in enumerate(values)]


def test_batch_decides_valid_and_dead_letters_bad(stream_env: StreamEnv, tfidf_model_dir: Path):
    async def run() -> tuple[Any, Recorder]:
        stage, send = make_stage(stream_env, tfidf_model_dir), Recorder()
        batch = events(
            ticket_bytes("A", "I lost my card"),
            b"not json",
            ticket_bytes("B", "how do I top up by bank transfer"),
            ticket_bytes("A", "same id again in the batch"),
        )
        return await stage.process(batch, send), send

    outcome, send = asyncio.run(run())
    topics = stream_env.topics
    decided = [(t, Decision.model_validate_json(v)) for t, _k, v in send.sent if t in topics.bands]
    assert [d.ticket_id for _t, d in decided] == ["A", "B"]
    assert all(t == topics.band(d.band) for t, d in decided)
    (letter,) = [
        DeadLetter.model_validate_json(v) for t, _k, v in send.sent if t == topics.dead_letter
    ]
    assert (letter.offset, letter.payload) == (1, "not json")
    assert "not JSON" in letter.reason
    assert (outcome.decided, outcome.duplicates) == (2, 1)


def test_redelivery_republishes_the_stored_bytes_or_skips(
    stream_env: StreamEnv, tfidf_model_dir: Path
) -> None:
    """Stored, not marked published (killed before the ack): same bytes again; marked: skip."""

    async def run() -> tuple[Recorder, Recorder, Recorder, dict[str, int]]:
        stage = make_stage(stream_env, tfidf_model_dir)
        stored = (
            Decision(
                ticket_id="R",
                label="fx",
                confidence=0.5,
                band="manual",
                top_k=[],
                model_version="an-older-model",
            )
            .model_dump_json()
            .encode()
        )
        await stage.cache.claim({"R": stored})  # as if killed between store and publish
        first, second, third = Recorder(), Recorder(), Recorder()
        await stage.process(events(ticket_bytes("R", "I lost my card")), first)
        await stage.process(events(ticket_bytes("R", "I lost my card")), second)
        await stage.process(events(ticket_bytes("S", "I lost my card")), third)
        return first, second, third, await stage.cache.counters()

    first, second, third, counters = asyncio.run(run())
    assert first.sent == [(stream_env.topics.manual, b"R", first.sent[0][2])]
    assert json.loads(first.sent[0][2])["model_version"] == "an-older-model"
    assert second.sent == []
    assert [t for t, _k, _v in third.sent] == [stream_env.topics.routed]
    assert counters["band:manual"] == 1
    assert counters["duplicates"] == 1


def test_agent_in_faust_test_context(stream_env: StreamEnv, tfidf_model_dir: Path) -> None:
    """The faust wiring: raw bytes in, one send per ticket, without a broker."""
    app = faust.App(f"test-{stream_env.group_id}", autodiscover=False)
    send = Recorder()

    async def run() -> None:
        stage = make_stage(stream_env, tfidf_model_dir)
        agent = install_classify(app, stage, send=send, partitions=1, batch_max=8, window_s=0.01)
        async with agent.test_context() as test_agent:
            await test_agent.put(key=b"X", value=ticket_bytes("X", "my card was declined"))
            await test_agent.put(key=b"Y", value=b"\xff")
            for _ in range(100):
                if len(send.sent) == 2:
                    break
                await asyncio.sleep(0.05)

    asyncio.run(run())
    keys_by_topic = {t: k for t, k, _v in send.sent}
    (band_topic,) = set(keys_by_topic) & set(stream_env.topics.bands)
    assert keys_by_topic == {band_topic: b"X", stream_env.topics.dead_letter: b"Y"}


# -- poison messages (issue 10): one bad message costs a dead letter, never the batch ----------


def letters_of(send: Recorder, env: StreamEnv) -> list[DeadLetter]:
    return [
        DeadLetter.model_validate_json(v) for t, _k, v in send.sent if t == env.topics.dead_letter
    ]


def test_poison_messages_are_dead_letters_and_the_batch_goes_on(
    stream_env: StreamEnv, tfidf_model_dir: Path
) -> None:
    """Depth 1,000 (RecursionError), a lone surrogate (UnicodeEncodeError), 10 MB, 200 KB of
    control bytes, duplicate keys: all crashed or crash-looped the worker before."""
    poison = [
        b"[" * 1000 + b"]" * 1000,
        b'{"ticket_id": "s", "body": "bad \\ud800"}',
        ticket_bytes("huge", "x" * 10_000_000),
        b"\x00\x01\x02\x1f" * 50_000,
        b'{"ticket_id": "d", "body": "a", "body": "b"}',
    ]

    async def run() -> tuple[Any, Recorder]:
        stage, send = make_stage(stream_env, tfidf_model_dir), Recorder()
        batch = events(ticket_bytes("G1", "I lost my card"), *poison, ticket_bytes("G2", "fx"))
        return await stage.process(batch, send), send

    outcome, send = asyncio.run(run())
    decided = [
        Decision.model_validate_json(v).ticket_id
        for t, _k, v in send.sent
        if t in stream_env.topics.bands
    ]
    assert decided == ["G1", "G2"]
    letters = letters_of(send, stream_env)
    assert [letter.kind for letter in letters] == [
        "too_deep",
        "invalid_unicode",
        "too_large",
        "too_large",
        "duplicate_key",
    ]
    for letter, raw in zip(letters, poison, strict=True):
        encoded = letter.model_dump_json().encode()
        assert len(encoded) < 100_000, "a dead letter must fit the producer's 1 MB limit"
        assert letter.payload_bytes == len(raw)
        assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
        assert letter.truncated == (len(raw) > MAX_PAYLOAD_BYTES)
        assert raw.startswith(letter.original_bytes())
    assert outcome.decided == 2


class PoisonedModel:
    """The served model, except that it raises on one text (a tokenizer or runtime bug)."""

    def __init__(self, model: Any, poison: str, broken: bool = False) -> None:
        self.model, self.poison, self.broken = model, poison, broken
        self.version, self.labels = model.version, model.labels

    def score(self, texts: list[str]) -> Any:
        if self.broken or any(self.poison in t for t in texts):
            raise RuntimeError("index out of range in self")
        return self.model.score(texts)


def test_a_ticket_the_model_cannot_score_is_dead_lettered_alone(
    stream_env: StreamEnv, tfidf_model_dir: Path
) -> None:
    async def run() -> tuple[Any, Recorder]:
        stage, send = make_stage(stream_env, tfidf_model_dir), Recorder()
        stage.holder.swap(PoisonedModel(stage.holder.current, "BOOM"))  # type: ignore[arg-type]
        batch = events(
            *(ticket_bytes(f"P{i}", "BOOM" if i == 2 else "card lost") for i in range(5))
        )
        return await stage.process(batch, send), send

    _outcome, send = asyncio.run(run())
    decided = {
        Decision.model_validate_json(v).ticket_id
        for t, _k, v in send.sent
        if t in stream_env.topics.bands
    }
    assert decided == {"P0", "P1", "P3", "P4"}
    (letter,) = letters_of(send, stream_env)
    assert (letter.kind, letter.offset) == ("classify_error", 2)
    assert "RuntimeError" in letter.reason


def test_a_broken_model_crashes_instead_of_dead_lettering_everything(
    stream_env: StreamEnv, tfidf_model_dir: Path
) -> None:
    async def run() -> Recorder:
        stage, send = make_stage(stream_env, tfidf_model_dir), Recorder()
        stage.holder.swap(PoisonedModel(stage.holder.current, "", broken=True))  # type: ignore[arg-type]
        await stage.process(events(ticket_bytes("B1", "card lost")), send)
        return send

    with pytest.raises(RuntimeError):
        asyncio.run(run())

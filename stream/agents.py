"""The classify agent: tickets.incoming -> exactly one band topic per ticket, or a dead letter.

Per micro-batch: parse (bad input -> dead letter), drop ids already decided (redis), score the
rest in ONE model call on a worker thread (heartbeats keep flowing on the loop), store each
decision before publishing it, await every broker ack, mark published, and only then ack the
source events so faust may commit their offsets.

Error policy: bad input is dead-lettered with a reason; anything else (broker, redis, model)
crashes the worker with a non-zero exit. Nothing is acked on that path, so a restart
re-processes the batch and the dedup store turns that into identical re-deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from models.bands import Thresholds
from schemas.events import DeadLetter, Decision, Ticket
from schemas.exceptions import InvalidEvent
from schemas.topics import Topics
from stream.deadletter import dead_letter
from stream.dedup import DecisionStore
from stream.parse import parse_ticket
from stream.serving import ModelHolder, decide

log = logging.getLogger(__name__)

STAGE = "classify"

#: (topic, key, value) -> an awaitable that resolves when the broker acked the record.
Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


@dataclass
class BatchOutcome:
    """What one batch did; logged, and asserted by unit tests."""

    decided: int = 0
    republished: int = 0
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    bands: Counter[str] = field(default_factory=Counter)


def received_at(message: Any) -> datetime | None:
    """The broker/producer timestamp of the source record: latency is measured from it."""
    timestamp = getattr(message, "timestamp", None)
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


@dataclass
class ClassifyStage:
    holder: ModelHolder
    store: DecisionStore
    thresholds: Thresholds
    max_body_bytes: int
    topics: Topics
    executor: Executor

    async def process(self, events: Sequence[Any], send: Send) -> BatchOutcome:
        """Handle one batch of faust events; returns only after every output was acked."""
        outcome = BatchOutcome()
        tickets: dict[str, tuple[Ticket, datetime | None]] = {}
        for event in events:
            message = event.message
            try:
                ticket = parse_ticket(message.value, max_body_bytes=self.max_body_bytes)
            except InvalidEvent as exc:
                letter = dead_letter(message, stage=STAGE, reason=exc.reason)
                log.warning(
                    "dead letter %s[%d]@%d: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc.reason,
                )
                outcome.dead_letters.append(letter)
                continue
            if ticket.ticket_id in tickets:  # same id twice in one batch: decide once
                outcome.duplicates += 1
                continue
            tickets[ticket.ticket_id] = (ticket, received_at(message))

        stored = await self.store.lookup(list(tickets))
        fresh = [tid for tid in tickets if tid not in stored]
        payloads: dict[str, bytes] = {}
        if fresh:
            model = self.holder.current  # read once: a swap lands between batches
            batch = [tickets[tid][0] for tid in fresh]
            times = [tickets[tid][1] for tid in fresh]
            loop = asyncio.get_running_loop()
            decisions = await loop.run_in_executor(
                self.executor, decide, model, batch, times, self.thresholds
            )
            payloads = await self.store.claim(
                {d.ticket_id: d.model_dump_json().encode("utf-8") for d in decisions}
            )
        for tid, previous in stored.items():
            if previous.published:
                outcome.duplicates += 1
            else:
                payloads[tid] = previous.payload
                outcome.republished += 1

        acks: list[Awaitable[Any]] = []
        counts: Counter[str] = Counter()
        for tid, payload in payloads.items():
            decision = Decision.model_validate_json(payload)
            acks.append(await send(self.topics.band(decision.band), tid.encode(), payload))
            counts[f"band:{decision.band}"] += 1
            counts[f"label:{decision.label}"] += 1
            outcome.bands[decision.band] += 1
        for letter in outcome.dead_letters:
            key = letter.key.encode() if letter.key is not None else None
            acks.append(await send(self.topics.dead_letter, key, letter.model_dump_json().encode()))
        counts["dead_letters"] = len(outcome.dead_letters)
        counts["duplicates"] = outcome.duplicates
        await asyncio.gather(*acks)
        await self.store.mark_published(payloads, counts)
        outcome.decided = len(payloads) - outcome.republished
        return outcome


def install_classify(
    app: faust.App,
    stage: ClassifyStage,
    *,
    partitions: int,
    batch_max: int,
    window_s: float,
    publish: Send | None = None,
) -> Any:
    """Register the classify agent (raw bytes in, raw bytes out) on ``app``; returns the agent.

    ``publish`` defaults to faust's producer; unit tests hand in a recorder instead.
    """
    incoming = raw_topic(app, stage.topics.incoming, partitions)
    outputs = {
        name: raw_topic(app, name, partitions)
        for name in (*stage.topics.bands, stage.topics.dead_letter)
    }

    async def send(topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        # force=True: publish now and hand back the ack future, instead of faust's
        # "attach to the current event" mode, which would hide the ack from us.
        ack: Awaitable[Any] = await outputs[topic].send(key=key, value=value, force=True)
        return ack

    async def declare_outputs() -> None:
        for topic in outputs.values():
            await topic.maybe_declare()

    app.task(declare_outputs)
    out = publish or send

    async def classify(stream: Any) -> None:
        async for events in stream.noack_take(batch_max, within=window_s):
            try:
                outcome = await stage.process(events, out)
            except Exception as exc:
                log.critical("classify batch failed, stopping the worker: %r", exc, exc_info=True)
                await app.crash(exc)
                raise
            for event in events:  # only now may faust commit these offsets
                await stream.ack(event)
            log.debug(
                "batch of %d: %d decided, %d re-published, %d duplicate, %d dead letters",
                len(events),
                outcome.decided,
                outcome.republished,
                outcome.duplicates,
                len(outcome.dead_letters),
            )

    return app.agent(incoming, name="classify")(classify)


def raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    """Bytes in, bytes out: parsing is ours (:mod:`stream.parse`), not a codec's."""
    return app.topic(
        name,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

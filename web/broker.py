"""What the web service reads from and writes to Kafka: true consumer lag, the dead-letter tail,
and acked corrections.

Lag is the high watermark from a *fetch response* minus the worker group's committed offset.
The embedded broker answers ListOffsets(latest) with the last batch's base offset + 1 (see the
shared Kafka notes), so ``end_offsets()`` would under-report the backlog; a fetch carries the
true watermark. The probe consumer has no group and never commits: reading lag must not move
the worker's offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.events import Correction, DeadLetter
from web.exceptions import PublishFailed

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 30.0
#: How long a lag probe waits for every partition's first fetch response.
PROBE_TIMEOUT_S = 3.0

#: Dead-letter reasons are free text written by each stage; metrics label them by kind so the
#: label set stays bounded whatever the text says. First match wins; the rest are "other".
REASON_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("not_utf8", re.compile(r"not valid UTF-8")),
    ("not_json", re.compile(r"not JSON|is a JSON \w+, not an object|tombstone")),
    ("too_large", re.compile(r"over the [\d,]+-byte limit")),
    ("schema", re.compile(r"does not match the schema|^not a (Decision|Correction)")),
    ("unknown_ticket", re.compile(r"no decision stored for ticket")),
    ("unknown_label", re.compile(r"is not one of the deployed model's labels")),
    ("contradicts_decision", re.compile(r"differs from the decided label")),
)
KINDS: tuple[str, ...] = (*(kind for kind, _ in REASON_KINDS), "other")


def reason_kind(reason: str) -> str:
    for kind, pattern in REASON_KINDS:
        if pattern.search(reason):
            return kind
    return "other"


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    high_watermark: int
    committed: int | None

    @property
    def lag(self) -> int:
        return max(0, self.high_watermark - (self.committed or 0))


async def consumer_lag(
    bootstrap: str, topic: str, partitions: int, group_id: str
) -> list[PartitionLag]:
    """Per-partition backlog of ``group_id`` on ``topic``; a partition that answered no fetch
    within :data:`PROBE_TIMEOUT_S` is left out rather than reported as zero."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id, partitions=tps)
    finally:
        await admin.close()
    committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=64 * 1024,
    )
    await probe.start()
    try:
        probe.assign(tps)
        for tp in tps:
            probe.seek(tp, committed.get(tp, 0))
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while time.monotonic() < deadline:
            await probe.getmany(timeout_ms=100, max_records=1)
            if all(probe.highwater(tp) is not None for tp in tps):
                break
        return [
            PartitionLag(tp.partition, hw, committed.get(tp))
            for tp in tps
            if (hw := probe.highwater(tp)) is not None
        ]
    finally:
        await probe.stop()


@dataclass
class DeadLetterTail:
    """Follows ``tickets.dead-letter`` from the beginning: counts by reason kind and keeps the
    latest few letters for the dashboard. Group-less, so it never competes with anyone."""

    bootstrap: str
    topic: str
    keep: int = 20
    counts: Counter[str] = field(default_factory=Counter)
    latest: deque[DeadLetter] = field(default_factory=deque)
    unreadable: int = 0
    _task: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.unreadable

    def add(self, raw: bytes | None) -> None:
        try:
            letter = DeadLetter.model_validate_json(raw or b"")
        except ValueError:
            # Someone published a non-dead-letter here; count it, never hide it.
            self.unreadable += 1
            log.warning("unreadable message on %s: %r", self.topic, (raw or b"")[:200])
            return
        self.counts[reason_kind(letter.reason)] += 1
        self.latest.appendleft(letter)
        while len(self.latest) > self.keep:
            self.latest.pop()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=200,
        )
        await consumer.start()
        try:
            async for message in consumer:
                self.add(message.value)
        finally:
            await consumer.stop()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="dead-letter-tail")
        self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("dead-letter tail stopped: %r", task.exception())


class CorrectionPublisher:
    """Publishes corrections and waits for the broker's ack: an unacked one is an error."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Inside the serving event loop: aiokafka binds its producer to the running loop."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, correction: Correction) -> None:
        if self._producer is None:
            raise PublishFailed("the correction publisher is not started; start the web app")
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    self.topic,
                    correction.model_dump_json().encode("utf-8"),
                    key=correction.ticket_id.encode("utf-8"),
                ),
                PUBLISH_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            raise PublishFailed(
                f"the broker at {self.bootstrap} did not ack the correction of ticket "
                f"{correction.ticket_id!r} ({exc!r}); nothing was recorded, try again"
            ) from exc

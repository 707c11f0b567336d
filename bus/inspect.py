"""What operators read from Kafka: true consumer lag and the dead-letter tail.

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

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bus.security import KafkaSecurity
from schemas import DEAD_LETTER_KINDS, DeadLetter

log = logging.getLogger(__name__)

#: How long a lag probe waits for every partition's first fetch response.
PROBE_TIMEOUT_S = 3.0

#: Letters carry their ``kind``; these patterns classify letters written before it existed.
#: First match wins; the rest are "other".
REASON_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("not_utf8", re.compile(r"not valid UTF-8")),
    ("not_json", re.compile(r"not JSON|is a JSON \w+, not an object|tombstone")),
    ("too_large", re.compile(r"over the [\d,]+-byte limit")),
    ("schema", re.compile(r"does not match the schema|^not a (Decision|Correction)")),
    ("unknown_ticket", re.compile(r"no decision stored for ticket")),
    ("unknown_label", re.compile(r"is not one of the deployed model's labels")),
    ("contradicts_decision", re.compile(r"differs from the decided label")),
)
KINDS: tuple[str, ...] = DEAD_LETTER_KINDS


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
    bootstrap: str, security: KafkaSecurity, topic: str, partitions: int, group_id: str
) -> list[PartitionLag]:
    """Per-partition backlog of ``group_id`` on ``topic``; a partition that answered no fetch
    within :data:`PROBE_TIMEOUT_S` is left out rather than reported as zero."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka_options())
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
        **security.aiokafka_options(),
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
    security: KafkaSecurity
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
        kind = letter.kind if letter.kind != "other" else reason_kind(letter.reason)
        self.counts[kind] += 1
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
            **self.security.aiokafka_options(),
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

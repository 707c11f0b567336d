"""The recorder: band topics -> decisions in the store; corrections topic -> corrections.

Per micro-batch each event is parsed and written with ONE store call (which commits before it
returns); only after every store call and every dead letter was acked are the events acked, so
faust commits an offset only for rows that are durable. Re-delivery after a crash is harmless:
the store ignores a decision or correction it already holds.

Error policy: bad input (unparsable event, a correction naming an unknown ticket or label, a
confirm that contradicts the decision) is dead-lettered with topic, partition, offset and the
store's reason; anything else (database, broker) crashes the service with nothing acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from pydantic import ValidationError

from bus import AckedProducer, Send, dead_letter, install_batch_agent, publish_letters
from learner import registry
from learner.store import CorrectionOutcome, Store
from schemas.events import Correction, DeadLetter, Decision
from schemas.topics import Topics

log = logging.getLogger(__name__)

STAGE = "record"


class DeployedLabels:
    """The labels a correction may name: the deployed model's, read from its manifest.

    Cached per deployed version, so a deploy that adds a class is picked up on the next batch.
    """

    def __init__(self, store: Store, fallback_dir: Path) -> None:
        self.store = store
        self.fallback_dir = fallback_dir
        self._cache: dict[str, frozenset[str]] = {}

    def __call__(self) -> Collection[str]:
        from models.artifact import read_manifest

        record = registry.deployed(self.store)
        model_dir = Path(record.model_dir) if record is not None else self.fallback_dir
        key = str(model_dir)
        if key not in self._cache:
            self._cache[key] = frozenset(read_manifest(model_dir).labels)
        return self._cache[key]


@dataclass
class RecordOutcome:
    stored: int = 0
    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class RecordStage:
    store: Store
    topics: Topics
    labels: Callable[[], Collection[str]]
    executor: Executor

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def decisions(self, events: Sequence[Any], send: Send) -> RecordOutcome:
        outcome = RecordOutcome()
        for event in events:
            message = event.message
            try:
                decision = Decision.model_validate_json(message.value or b"")
            except ValidationError as exc:
                outcome.dead_letters.append(
                    self._letter(message, "schema", f"not a Decision: {_first_error(exc)}")
                )
                continue
            if await self._call(self.store.add_decision, decision):
                outcome.stored += 1
            else:
                outcome.duplicates += 1
        await self._send_letters(outcome, send)
        return outcome

    async def corrections(self, events: Sequence[Any], send: Send) -> RecordOutcome:
        outcome = RecordOutcome()
        labels = await self._call(self.labels)
        for event in events:
            message = event.message
            try:
                correction = Correction.model_validate_json(message.value or b"")
            except ValidationError as exc:
                outcome.dead_letters.append(
                    self._letter(
                        message,
                        "schema",
                        f"not a Correction: {_first_error(exc)}; publish one with `triage correct`",
                    )
                )
                continue
            result: CorrectionOutcome = await self._call(
                self.store.add_correction, correction, labels
            )
            if result is CorrectionOutcome.stored:
                outcome.stored += 1
            elif result is CorrectionOutcome.duplicate:
                outcome.duplicates += 1
            else:
                outcome.dead_letters.append(
                    self._letter(message, result.value, result.reason(correction))
                )
        await self._send_letters(outcome, send)
        return outcome

    def _letter(self, message: Any, kind: str, reason: str) -> DeadLetter:
        return dead_letter(message, stage=STAGE, kind=kind, reason=reason)

    async def _send_letters(self, outcome: RecordOutcome, send: Send) -> None:
        await publish_letters(outcome.dead_letters, self.topics.dead_letter, send)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "event"
    return f"{where}: {first['msg']}"


def install_recorder(
    app: faust.App,
    stage: RecordStage,
    *,
    producer: AckedProducer,
    partitions: int,
    batch_max: int = 200,
) -> None:
    """Register the two recording agents on ``app`` (the shared loop: ack only what is durable)."""

    def agent(
        name: str, topics: Sequence[str], handle: Callable[..., Awaitable[RecordOutcome]]
    ) -> None:
        source = app.topic(
            *topics,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        async def run(events: Sequence[Any]) -> RecordOutcome:
            return await handle(events, producer.send)

        install_batch_agent(
            app,
            source,
            name=name,
            handle=run,
            batch_max=batch_max,
            window_s=0.2,
            before_batch=producer.start,
        )

    agent("record-decisions", stage.topics.bands, stage.decisions)
    agent("record-corrections", [stage.topics.corrections], stage.corrections)

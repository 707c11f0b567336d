"""The recorder: band topics -> decisions in the store; corrections topic -> corrections.

Per micro-batch each event is parsed and written with ONE store call (which commits before it
returns); only after every store call and every dead letter was acked are the events acked, so
faust commits an offset only for rows that are durable. Re-delivery after a crash is harmless:
the store ignores a decision or correction it already holds.

Error policy: bad input (unparsable event, a correction naming an unknown ticket or label, a
confirm that contradicts the decision) is dead-lettered with topic, partition, offset and the
store's reason. A store that is unavailable (server down, failing over, refusing connections)
pauses the batch: the store call is retried with capped backoff, logged at ERROR every time,
nothing acked, for up to ``TRIAGE_STORE_RETRY_S``; only then does the service crash. Pausing
rather than crashing because an outage of minutes would otherwise be a crash loop, each restart
re-joining the group and re-reading the same batch; the store calls run on an executor, so the
event loop (and the consumer's heartbeats) keep running while one waits. Anything else
(a broker fault, a bug) crashes the service at once with nothing acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust
from pydantic import ValidationError

from bus import (
    AckedProducer,
    Send,
    StageOutcome,
    dead_letter,
    install_batch_agent,
    publish_letters,
)
from schemas import Correction, DeadLetter, Decision, Topics
from store import (
    CorrectionOutcome,
    HoldRule,
    Store,
    StoreUnavailable,
    brief_error,
    database_unavailable,
)

log = logging.getLogger(__name__)

STAGE = "record"

#: the events the recorder parses
E = TypeVar("E", Decision, Correction)


@dataclass(frozen=True)
class StoreRetry:
    """How the recorder waits out a store outage: doubling delays up to ``max_delay_s``,
    for at most ``give_up_s`` in all (``TRIAGE_STORE_RETRY_S``)."""

    give_up_s: float = 600.0
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0

    def delay(self, attempt: int, waited_s: float) -> float:
        backoff = self.first_delay_s * float(2 ** min(attempt - 1, 30))
        return max(0.0, min(self.max_delay_s, backoff, self.give_up_s - waited_s))


@dataclass
class RecordOutcome(StageOutcome):
    stored: int = 0
    #: of ``stored``, the corrections held for a second reviewer
    held: int = 0


@dataclass
class RecordStage:
    store: Store
    topics: Topics
    #: what a correction may name: by head (``DeployedLabels.heads``), or the primary's alone
    labels: Callable[[], Collection[str] | Mapping[str, Collection[str]]]
    executor: Executor
    retry: StoreRetry = field(default_factory=StoreRetry)
    #: None stores every valid correction as active (no second review)
    hold: HoldRule | None = None

    async def store_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the executor, waiting out a store outage (see the module doc)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            try:
                result = await loop.run_in_executor(self.executor, fn, *args)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                attempt += 1
                waited = loop.time() - started
                if waited >= self.retry.give_up_s:
                    raise StoreUnavailable(
                        f"the store is unavailable since {waited:.0f} s ({brief_error(exc)}); "
                        f"giving up after TRIAGE_STORE_RETRY_S={self.retry.give_up_s:g}: "
                        "bring the database back (TRIAGE_DATABASE_URL) or raise that setting"
                    ) from exc
                delay = self.retry.delay(attempt, waited)
                log.error(
                    "the store is unavailable for %s (attempt %d, %.0f s so far): %s; this "
                    "batch stays unacked, retrying in %.1f s, stopping after "
                    "TRIAGE_STORE_RETRY_S=%g s",
                    getattr(fn, "__name__", type(fn).__name__),
                    attempt,
                    waited,
                    brief_error(exc),
                    delay,
                    self.retry.give_up_s,
                )
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.warning(
                    "the store is back after %.1f s and %d failed attempts; recording resumes",
                    loop.time() - started,
                    attempt,
                )
            return result

    async def decisions(self, events: Sequence[Any], send: Send) -> RecordOutcome:
        outcome = RecordOutcome()
        for event in events:
            decision = self._parsed(event.message, Decision, "", outcome)
            if decision is None:
                continue
            if await self.store_call(self.store.add_decision, decision):
                outcome.stored += 1
            else:
                outcome.duplicates += 1
        await self._send_letters(outcome, send)
        return outcome

    async def corrections(self, events: Sequence[Any], send: Send) -> RecordOutcome:
        outcome = RecordOutcome()
        labels = await self.store_call(self.labels)
        for event in events:
            message = event.message
            correction = self._parsed(
                message, Correction, "; publish one with `triage correct`", outcome
            )
            if correction is None:
                continue
            result: CorrectionOutcome = await self.store_call(
                self.store.add_correction, correction, labels, self.hold
            )
            if result in (CorrectionOutcome.stored, CorrectionOutcome.held):
                outcome.stored += 1
                outcome.held += result is CorrectionOutcome.held
            elif result is CorrectionOutcome.duplicate:
                outcome.duplicates += 1
            else:
                outcome.dead_letters.append(
                    self._letter(message, result.value, result.reason(correction))
                )
        await self._send_letters(outcome, send)
        return outcome

    def _parsed(self, message: Any, schema: type[E], hint: str, outcome: RecordOutcome) -> E | None:
        """The event as ``schema``, or None with its dead letter added to ``outcome``: one bad
        event is set aside, never holding up the rest of the batch."""
        try:
            return schema.model_validate_json(message.value or b"")
        except ValidationError as exc:
            reason = f"not a {schema.__name__}: {_first_error(exc)}{hint}"
            outcome.dead_letters.append(self._letter(message, "schema", reason))
            return None

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

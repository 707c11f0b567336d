"""The classify agent: tickets.incoming -> exactly one band topic per ticket, or a dead letter.

Per micro-batch: parse (bad input -> dead letter), drop ids already decided (redis), score the
rest in ONE model call on a worker thread (heartbeats keep flowing on the loop), store each
decision before publishing it, await every broker ack, mark published, and only then ack the
source events so faust may commit their offsets (:func:`bus.install_batch_agent`).

Error policy, per message: anything that goes wrong while parsing or classifying *one* message
dead-letters that message (with its kind and reason) and the rest of the batch goes on. A
batch whose model call fails is scored again one ticket at a time to find the poison one; if
the model cannot score even a canary text, the model is at fault, not the ticket, and the
worker crashes. Per service: broker, redis and a missing output topic crash the worker with a
non-zero exit. Nothing is acked on that path, so a restart re-processes the batch and the
decision cache turns that into identical re-deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bus import DecisionCache, Send, StageOutcome, dead_letter, publish_letters
from models import Classifier, FittedThresholds, ThresholdOverrides
from schemas import Decision, InvalidEvent, Ticket, Topics
from stream.parse import parse_ticket
from stream.serving import ModelHolder, decide

log = logging.getLogger(__name__)

STAGE = "classify"
#: Scored when a single ticket fails: if this fails too, the model is broken, not the ticket.
CANARY = Ticket(ticket_id="canary", body="I need help with my account")


@dataclass
class BatchOutcome(StageOutcome):
    """What one batch did; logged, and asserted by unit tests."""

    decided: int = 0
    republished: int = 0
    #: (band, label) of every decision published, fresh or re-published
    labels: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: seconds from the ticket's broker timestamp to its (fresh) decision
    latencies: list[float] = field(default_factory=list)
    size: int = 0
    #: the decisions made in this batch (not re-published ones) and the model that made them:
    #: what the drift window is fed (:mod:`stream.drift`)
    fresh: list[Decision] = field(default_factory=list)
    model: Classifier | None = None

    @property
    def bands(self) -> Counter[str]:
        """Decisions published per band (from ``labels``, which holds band and label)."""
        counts: Counter[str] = Counter()
        for (band, _label), n in self.labels.items():
            counts[band] += n
        return counts


def received_at(message: Any) -> datetime | None:
    """The broker/producer timestamp of the source record: latency is measured from it."""
    timestamp = getattr(message, "timestamp", None)
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


@dataclass
class ClassifyStage:
    holder: ModelHolder
    cache: DecisionCache
    thresholds: ThresholdOverrides
    max_body_bytes: int
    topics: Topics
    executor: Executor
    max_message_bytes: int = 0

    async def process(self, events: Sequence[Any], send: Send) -> BatchOutcome:
        """Handle one batch of faust events; returns only after every output was acked."""
        outcome = BatchOutcome(size=len(events))
        tickets = self._parse(events, outcome)
        stored = await self.cache.lookup(list(tickets))
        fresh = [tid for tid in tickets if tid not in stored]
        payloads: dict[str, bytes] = {}
        fresh_decisions: list[Decision] = []
        if fresh:
            fresh_decisions = await self._classify([tickets[tid] for tid in fresh], outcome)
            payloads = await self.cache.claim(
                {d.ticket_id: d.model_dump_json().encode("utf-8") for d in fresh_decisions}
            )
        for tid, previous in stored.items():
            if previous.published:
                outcome.duplicates += 1
            else:
                payloads[tid] = previous.payload
                outcome.republished += 1
        await self._publish(payloads, outcome, send)
        outcome.decided = len(payloads) - outcome.republished
        outcome.fresh = fresh_decisions
        outcome.latencies = [
            (d.decided_at - d.received_at).total_seconds()
            for d in fresh_decisions
            if d.received_at is not None
        ]
        return outcome

    def _parse(
        self, events: Sequence[Any], outcome: BatchOutcome
    ) -> dict[str, tuple[Ticket, datetime | None, Any]]:
        tickets: dict[str, tuple[Ticket, datetime | None, Any]] = {}
        for event in events:
            message = event.message
            try:
                ticket = parse_ticket(
                    message.value,
                    max_body_bytes=self.max_body_bytes,
                    max_message_bytes=self.max_message_bytes,
                )
            except InvalidEvent as exc:
                outcome.dead_letters.append(
                    dead_letter(message, stage=STAGE, kind=exc.kind, reason=exc.reason)
                )
                continue
            except Exception as exc:  # a parser bug must cost one message, not the worker
                topic, partition, offset = _where(message)
                log.exception(
                    "parse_ticket raised on %s[%d]@%d",
                    topic,
                    partition,
                    offset,
                    extra={"topic": topic, "partition": partition, "offset": offset},
                )
                outcome.dead_letters.append(
                    dead_letter(message, stage=STAGE, kind="other", reason=_unexpected(exc))
                )
                continue
            if ticket.ticket_id in tickets:  # same id twice in one batch: decide once
                outcome.duplicates += 1
                continue
            tickets[ticket.ticket_id] = (ticket, received_at(message), message)
        return tickets

    async def _classify(
        self, batch: list[tuple[Ticket, datetime | None, Any]], outcome: BatchOutcome
    ) -> list[Decision]:
        # read once: a swap (of the model or its thresholds) lands between batches
        model, fitted = self.holder.served()
        outcome.model = model
        try:
            return await self._decide(model, batch, fitted)
        except Exception as exc:
            log.warning("a batch of %d failed to score (%r); scoring one by one", len(batch), exc)
        decisions: list[Decision] = []
        canary_passed = False
        for item in batch:
            try:
                decisions.extend(await self._decide(model, [item], fitted))
            except Exception as exc:
                if not canary_passed:  # one canary per batch: the model does not change inside it
                    await self._model_still_scores(model)
                    canary_passed = True
                outcome.dead_letters.append(
                    dead_letter(
                        item[2], stage=STAGE, kind="classify_error", reason=_unexpected(exc)
                    )
                )
        return decisions

    async def _decide(
        self,
        model: Classifier,
        batch: list[tuple[Ticket, datetime | None, Any]],
        fitted: FittedThresholds | None = None,
    ) -> list[Decision]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor,
            decide,
            model,
            [ticket for ticket, _, _ in batch],
            [at for _, at, _ in batch],
            self.thresholds,
            fitted,
        )

    async def _model_still_scores(self, model: Classifier) -> None:
        """Raise (crashing the worker) if the model fails on a plain ticket too."""
        await self._decide(model, [(CANARY, None, None)])

    async def _publish(self, payloads: dict[str, bytes], outcome: BatchOutcome, send: Send) -> None:
        acks: list[Awaitable[Any]] = []
        counts: Counter[str] = Counter()
        for tid, payload in payloads.items():
            decision = Decision.model_validate_json(payload)
            acks.append(await send(self.topics.band(decision.band), tid.encode(), payload))
            counts[f"band:{decision.band}"] += 1
            counts[f"label:{decision.label}"] += 1
            counts["would_route"] += decision.would_route
            outcome.labels[decision.band, decision.label] += 1
        await asyncio.gather(*acks)  # raises if any record was not acknowledged
        await publish_letters(outcome.dead_letters, self.topics.dead_letter, send)
        counts["dead_letters"] = len(outcome.dead_letters)
        counts["duplicates"] = outcome.duplicates
        await self.cache.mark_published(payloads, counts)


def _where(message: Any) -> tuple[str, int, int]:
    return message.topic, message.partition, message.offset


def _unexpected(exc: BaseException) -> str:
    return (
        f"{type(exc).__name__}: {str(exc)[:500]}; this message could not be processed. "
        "Report it with the message's hash; the rest of the stream went on"
    )

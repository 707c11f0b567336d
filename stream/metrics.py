"""The classify worker's Prometheus metrics, counted where the decisions are made.

Each worker has its own registry on its own probe port (:mod:`bus.probes`), so a scrape shows
what *this* worker did and which partitions it owns now. Everything is counted only after the
batch's outputs were acknowledged by the broker (the agent calls :meth:`WorkerMetrics.observe`
with the outcome ``ClassifyStage.process`` returns after its acks), so a crashed batch that will
be re-processed is never counted twice. Label sets are bounded: bands (3), the model's labels,
dead-letter kinds (a fixed list), components (2), owned partitions.

Lag here is what this worker has not fetched yet on the partitions it owns (the partition's
high-water mark minus the consumer's position), read from the consumer at scrape time; the
group-wide committed lag is on the web's ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus import BusError, DecisionCacheError
from schemas import DEAD_LETTER_KINDS

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class WorkerMetrics:
    """One worker's counters; ``registry`` is what its ``/metrics`` page renders."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "triage_worker_decisions",
            "Decisions this worker published (acked), by band and label",
            ["band", "label"],
            registry=r,
        )
        self.latency = Histogram(
            "triage_worker_decision_latency_seconds",
            "From the ticket's broker timestamp to its decision",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "triage_worker_batch_size", "Tickets per batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.dead_letters = Counter(
            "triage_worker_dead_letters", "Dead letters published, by kind", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "triage_worker_duplicates", "Re-delivered tickets skipped or re-published", registry=r
        )
        self.errors = Counter(
            "triage_worker_errors",
            "Batches that failed on a dependency (the worker then restarts)",
            ["component"],
            registry=r,
        )
        self.model = Gauge(
            "triage_worker_model_info",
            "1 for the model version this worker serves",
            ["version"],
            registry=r,
        )
        self.lag = Gauge(
            "triage_worker_consumer_lag",
            "Records not fetched yet, per partition this worker owns",
            ["topic", "partition"],
            registry=r,
        )
        for kind in DEAD_LETTER_KINDS:
            self.dead_letters.labels(kind)  # every kind exported from the start, at 0
        for component in ("redis", "broker"):
            self.errors.labels(component)

    def observe(self, outcome: Any) -> None:
        """A batch whose outputs were all acked (a ``stream.agents.BatchOutcome``): count it."""
        for (band, label), n in outcome.labels.items():
            self.decisions.labels(band, label).inc(n)
        for seconds in outcome.latencies:
            self.latency.observe(seconds)
        self.batch_size.observe(outcome.size)
        for letter in outcome.dead_letters:
            self.dead_letters.labels(letter.kind).inc()
        if outcome.duplicates:
            self.duplicates.inc(outcome.duplicates)

    def failed(self, exc: BaseException) -> None:
        """A batch that raised: count it against the dependency at fault, if it is one."""
        component = dependency_of(exc)
        if component is not None:
            self.errors.labels(component).inc()

    async def refresh(self, consumer: Any, model_version: Callable[[], str]) -> None:
        """Called by ``/metrics`` before rendering: the model served and lag owned *now*."""
        self.model.clear()
        self.model.labels(model_version()).set(1)
        self.lag.clear()
        try:
            assigned = consumer.assignment()
        except Exception:  # not started or mid-rebalance: no partitions to report
            return
        for tp in assigned:
            position = await consumer.position(tp)
            if position is None:
                continue
            self.lag.labels(tp.topic, str(tp.partition)).set(
                max(0, consumer.highwater(tp) - position)
            )


def dependency_of(exc: BaseException) -> str | None:
    """``redis`` or ``broker`` when ``exc`` (or its cause) came from one, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, redis.RedisError | DecisionCacheError):
            return "redis"
        if isinstance(seen, KafkaError | BusError):
            return "broker"
        seen = seen.__cause__ or seen.__context__
    return None

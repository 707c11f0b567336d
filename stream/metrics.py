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

Drift (:mod:`stream.drift`) is this worker's window too: the batch's fresh decisions feed it
after the acks, and the gauges are set at scrape time for the version the window watches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import redis
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus import BusError, DecisionCacheError
from schemas import DEAD_LETTER_KINDS
from stream.drift import SIGNALS, STATES, DriftStatus, DriftWatch

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class WorkerMetrics:
    """One worker's counters; ``registry`` is what its ``/metrics`` page renders."""

    def __init__(
        self, registry: CollectorRegistry | None = None, drift: DriftWatch | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.drift = drift
        self.drift_gauges = DriftGauges(self.registry)
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
        if self.drift is not None and outcome.model is not None:
            self.drift.observe(outcome.model, outcome.fresh)

    def failed(self, exc: BaseException) -> None:
        """A batch that raised: count it against the dependency at fault, if it is one."""
        component = dependency_of(exc)
        if component is not None:
            self.errors.labels(component).inc()

    async def refresh(self, consumer: Any, model_version: Callable[[], str]) -> None:
        """Called by ``/metrics`` before rendering: the model served and lag owned *now*."""
        self.model.clear()
        self.model.labels(model_version()).set(1)
        if self.drift is not None:
            self.drift_gauges.show(self.drift.status())
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


class DriftGauges:
    """The drift window's figures beside the reference's (``source``), the index per signal,
    the state (one-hot) and ``triage_worker_thresholds_stale``; all labelled by version."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.share = Gauge(
            "triage_worker_label_share",
            "Share of each predicted label: this worker's drift window, or the reference",
            ["version", "label", "source"],
            registry=r,
        )
        self.novelty = Gauge(
            "triage_worker_novelty_rate",
            "Share of novel decisions: the drift window, or the reference",
            ["version", "source"],
            registry=r,
        )
        self.confidence = Gauge(
            "triage_worker_mean_confidence",
            "Mean top-1 confidence: the drift window, or the reference",
            ["version", "source"],
            registry=r,
        )
        self.psi = Gauge(
            "triage_worker_drift_psi",
            "Population stability index of the full window against the reference, per signal",
            ["version", "signal"],
            registry=r,
        )
        self.decisions = Gauge(
            "triage_worker_drift_window_decisions",
            "Fresh decisions in the drift window (judged once full)",
            ["version"],
            registry=r,
        )
        self.state = Gauge(
            "triage_worker_drift_state",
            "1 for the window's state: unknown (no reference), filling, stable, drifted",
            ["version", "state"],
            registry=r,
        )
        self.stale = Gauge(
            "triage_worker_thresholds_stale",
            "1 while drift is past TRIAGE_DRIFT_PSI_LIMIT: the route thresholds were fitted "
            "on traffic unlike today's",
            ["version"],
            registry=r,
        )
        self._all: tuple[Gauge, ...] = (self.share, self.novelty, self.confidence, self.psi)
        self._all += (self.decisions, self.state, self.stale)

    def show(self, status: DriftStatus | None) -> None:
        for gauge in self._all:
            gauge.clear()
        if status is None:
            return
        version = status.version
        for state in STATES:
            self.state.labels(version, state).set(int(status.state == state))
        self.stale.labels(version).set(int(status.stale))
        self.decisions.labels(version).set(status.decisions)
        for signal in SIGNALS:
            if signal in status.psi:
                self.psi.labels(version, signal).set(status.psi[signal])
        ref, window = status.reference, status.window
        if ref is not None:
            self._figures(version, "reference", ref.label_shares, ref.novelty_rate)
            self.confidence.labels(version, "reference").set(ref.mean_confidence)
        if ref is not None and window is not None and len(window):
            # every label of the reference, 0 included: a class that vanished is drift too
            shares = {label: 0.0 for label in ref.label_shares} | window.shares()
            self._figures(version, "window", shares, window.novelty_rate)
            self.confidence.labels(version, "window").set(window.mean_confidence)

    def _figures(
        self, version: str, source: str, shares: Mapping[str, float], novelty: float
    ) -> None:
        for label, share in shares.items():
            self.share.labels(version, label, source).set(share)
        self.novelty.labels(version, source).set(novelty)


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

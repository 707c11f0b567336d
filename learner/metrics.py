"""The learner's Prometheus metrics, on its own probe port (:mod:`bus.probes`).

Runs by outcome are read from the store at scrape time rather than counted in memory: the
training-run rows outlive the process, so the counter never goes down when the learner
restarts, and two learners started by mistake cannot double it. Training time and gate results
are what this process saw since it started (a histogram and a counter reset by a restart are
what Prometheus' ``rate`` expects).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from store import RUN_OUTCOMES

DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class RunCounts(Collector):
    """``triage_learner_runs_total{outcome}``: a counter whose value is the store's row count."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "triage_learner_runs",
            "Training runs recorded in the store, by outcome (never goes down)",
            labels=["outcome"],
        )
        for outcome in RUN_OUTCOMES:
            family.add_metric([outcome], self.counts.get(outcome, 0))
        yield family


class LearnerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = RunCounts()
        r.register(self.runs)
        self.duration = Histogram(
            "triage_learner_training_duration_seconds",
            "Wall time of one retrain -> gate -> deploy-or-reject cycle",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.gates = Counter(
            "triage_learner_gate_results",
            "Candidates judged by the eval gates, by result",
            ["result"],
            registry=r,
        )
        self.unused = Gauge(
            "triage_learner_unused_corrections",
            "Corrections no run has consumed yet (a run starts at TRIAGE_RETRAIN_AFTER)",
            registry=r,
        )
        for result in ("pass", "fail"):
            self.gates.labels(result)

    def observe_run(self, seconds: float, gates_passed: bool) -> None:
        self.duration.observe(seconds)
        self.gates.labels("pass" if gates_passed else "fail").inc()

    def refresh(self, store: Any) -> None:
        """Blocking (SQL): call off the event loop before a scrape renders."""
        self.runs.counts = dict(store.run_counts())
        self.unused.set(store.unused_corrections_count())

"""``/metrics``: the whole system's state in Prometheus text, gathered at scrape time.

Workers and the learner are separate processes (often several); rather than each holding
in-process counters that reset on restart, the web service reads the state they already share -
the store (decisions, corrections, training runs, models), redis (the workers' live counters),
the broker (lag, dead letters) - so one scrape target describes the system and every counter is
monotonic across restarts. Label sets are bounded: bands (3), model labels (the classes),
partitions, correction actions (2), run outcomes (3), dead-letter kinds (fixed list).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bus import KINDS, PartitionLag
from store import ACTIONS, BANDS, RUN_OUTCOMES, LatencyHistogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Snapshot:
    """One scrape's worth of facts, gathered by the app (store, redis, broker) before rendering."""

    decisions: Mapping[tuple[str, str], int]
    latency: LatencyHistogram
    lag_topic: str
    lag: Sequence[PartitionLag]
    dead_letters: Mapping[str, int]
    corrections: Mapping[str, int]
    runs: Mapping[str, int]
    model_version: str | None
    worker_counters: Mapping[str, int] = field(default_factory=dict)
    #: band -> (reviewed, correct) over the reviewed window (TRIAGE_PRECISION_WINDOW)
    band_reviews: Mapping[str, tuple[int, int]] = field(default_factory=dict)


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._decisions()
        yield from self._pipeline()
        yield from self._learning()

    def _decisions(self) -> Iterator[Metric]:
        """What the workers decided: stored decisions, live counters, latency."""
        s = self.snapshot
        decisions = CounterMetricFamily(
            "triage_decisions",
            "Decisions recorded in the store, by band and predicted label",
            labels=["band", "label"],
        )
        for (band, label), n in sorted(s.decisions.items()):
            decisions.add_metric([band, label], n)
        yield decisions

        worker = CounterMetricFamily(
            "triage_worker_published",
            "Decisions the workers published (redis live counters), by band",
            labels=["band"],
        )
        for band in BANDS:
            worker.add_metric([band], s.worker_counters.get(f"band:{band}", 0))
        yield worker
        duplicates = CounterMetricFamily(
            "triage_worker_duplicates", "Re-delivered tickets the workers skipped"
        )
        duplicates.add_metric([], s.worker_counters.get("duplicates", 0))
        yield duplicates

        hist = HistogramMetricFamily(
            "triage_decision_latency_seconds",
            "Broker receive time to decision time, over recorded decisions",
        )
        buckets = [(_bound(b), n) for b, n in s.latency.buckets]
        buckets.append(("+Inf", s.latency.count))
        hist.add_metric([], buckets, s.latency.total_s)
        yield hist

    def _pipeline(self) -> Iterator[Metric]:
        """The broker's side: the worker group's backlog and the dead letters."""
        s = self.snapshot
        lag = GaugeMetricFamily(
            "triage_consumer_lag",
            "Backlog of the worker group: fetch high watermark minus committed offset",
            labels=["topic", "partition"],
        )
        high = GaugeMetricFamily(
            "triage_topic_high_watermark",
            "High watermark from a fetch response",
            labels=["topic", "partition"],
        )
        for p in s.lag:
            lag.add_metric([s.lag_topic, str(p.partition)], p.lag)
            high.add_metric([s.lag_topic, str(p.partition)], p.high_watermark)
        yield lag
        yield high

        dead = CounterMetricFamily(
            "triage_dead_letters", "Messages dead-lettered, by kind of reason", labels=["kind"]
        )
        for kind in KINDS:
            dead.add_metric([kind], s.dead_letters.get(kind, 0))
        yield dead

    def _learning(self) -> Iterator[Metric]:
        """The learning loop: corrections, training runs, the deployed model."""
        s = self.snapshot
        corrections = CounterMetricFamily(
            "triage_corrections", "Reviewer corrections recorded, by action", labels=["action"]
        )
        for action in ACTIONS:
            corrections.add_metric([action], s.corrections.get(action, 0))
        yield corrections

        runs = CounterMetricFamily(
            "triage_retrains", "Training runs of the learner, by outcome", labels=["outcome"]
        )
        for outcome in (*RUN_OUTCOMES, "running"):
            runs.add_metric([outcome], s.runs.get(outcome, 0))
        yield runs

        reviewed = GaugeMetricFamily(
            "triage_band_reviewed",
            "Decisions people reviewed over the reviewed window, by band",
            labels=["band"],
        )
        precision = GaugeMetricFamily(
            "triage_band_precision",
            "Share of reviewed decisions people confirmed, by band (reviewed window)",
            labels=["band"],
        )
        for band, (total, correct) in sorted(s.band_reviews.items()):
            reviewed.add_metric([band], total)
            if total:
                precision.add_metric([band], correct / total)
        yield reviewed
        yield precision

        info = InfoMetricFamily("triage_model", "The deployed model version")
        if s.model_version is not None:
            info.add_metric([], {"version": s.model_version})
        yield info


def _bound(value: float) -> str:
    return repr(float(value))


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)

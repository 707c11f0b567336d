"""End-to-end benchmark: tickets through the embedded broker, the worker and back.

Starts the embedded stack and a `triage worker` subprocess, then
1. full throttle: publishes N tickets at once and measures decisions/s until the last decision;
2. offered load: publishes M tickets at a fixed rate and measures latency at that rate.
Latency is produce -> decision: the decision's ``decided_at`` minus ``received_at`` (the Kafka
timestamp of the incoming record), both from this machine's clock. Prints the worker's peak RSS.

`triage bench`, ``bench/e2e.py`` and ``bench/soak.py`` use it. It needs confluent-kafka (a dev
dependency): import it only where the end-to-end part runs.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ops import processes
from ops.processes import PARTITIONS
from ops.stack import EmbeddedStack, StackInfo
from schemas import Topics

REPO = Path(__file__).resolve().parent.parent

SHARED = REPO.parent / "shared" / "data" / "banking77" / "test.csv"
SAMPLE = REPO / "data" / "sample" / "banking77_test.csv"


def texts() -> tuple[list[str], str]:
    path = SHARED if SHARED.is_file() else SAMPLE
    with path.open(newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)], str(path)


def train_tfidf(out: Path) -> Path:
    from models import TfidfClassifier

    with (REPO / "data/sample/banking77_train.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    TfidfClassifier().fit([r["text"] for r in rows], [r["team"] for r in rows]).save(out)
    return out


class Decisions:
    """Reads the band topics in a thread; ``wait(ids)`` until every id has a decision."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.found: dict[str, dict[str, object]] = {}
        self._stop = threading.Event()
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"}
        )
        self._consumer.assign(
            [
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in topics.bands
                for p in range(PARTITIONS)
            ]
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(num_messages=2000, timeout=0.2):
                if msg.error() is None:
                    decision = json.loads(msg.value() or b"{}")
                    self.found.setdefault(decision["ticket_id"], decision)

    def wait(self, ids: set[str], timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ids <= self.found.keys():
                return time.monotonic()
            time.sleep(0.01)
        missing = len(ids - self.found.keys())
        raise SystemExit(f"{missing} of {len(ids)} tickets undecided after {timeout_s} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def latencies_ms(decisions: Decisions, ids: list[str]) -> list[float]:
    out = []
    for ticket_id in ids:
        d = decisions.found[ticket_id]
        decided = datetime.fromisoformat(str(d["decided_at"]))
        received = datetime.fromisoformat(str(d["received_at"]))
        out.append((decided - received).total_seconds() * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def publish(
    producer: Producer, topic: str, run: str, bodies: list[str], n: int, rate: float | None
) -> list[str]:
    ids = []
    start = time.monotonic()
    for i in range(n):
        if rate is not None:
            wait_turn(start, i, rate)
        ids.append(send_ticket(producer, topic, f"{run}-{i}", bodies[i % len(bodies)]))
    producer.flush(60)
    return ids


def wait_turn(start: float, i: int, rate: float) -> None:
    """Sleep until ticket ``i`` is due at ``rate`` per second from ``start`` (monotonic)."""
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def send_ticket(producer: Producer, topic: str, ticket_id: str, body: str) -> str:
    """Queue one ticket; a full producer queue is waited out, not an error. The ticket's id."""
    value = json.dumps({"ticket_id": ticket_id, "body": body})
    while True:
        try:
            producer.produce(topic, key=ticket_id, value=value)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
    return ticket_id


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """A memory line of /proc/PID/status in MiB: ``VmHWM`` the peak RSS, ``VmRSS`` the current."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_worker(
    info: StackInfo,
    topics: Topics,
    model_dir: Path,
    work: Path,
    batch_max: int,
    profile: str = "embedded",
) -> subprocess.Popen[bytes]:
    return processes.start_worker(
        info,
        topics,
        model_dir,
        work,
        group_id=f"bench-{topics.prefix.strip('.')}",
        cwd=work,
        TRIAGE_BATCH_MAX=str(batch_max),
        TRIAGE_BROKER_PROFILE=profile,
    )


def create_topics(info: StackInfo, name: str) -> Topics:
    """A fresh prefix with the worker's input and output topics, PARTITIONS each."""
    topics = Topics(prefix=f"{name}{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": info.kafka_bootstrap})
    new = [NewTopic(t, PARTITIONS, 1) for t in processes.worker_topics(topics)]
    for fut in admin.create_topics(new).values():
        fut.result(timeout=10)
    return topics


@dataclass(frozen=True)
class LiveWorker:
    """A worker on a stack of its own, and the reader of its decisions."""

    info: StackInfo
    topics: Topics
    process: subprocess.Popen[bytes]
    decisions: Decisions


@contextmanager
def live_worker(
    work: Path, name: str, model_dir: Path, batch_max: int, profile: str = "embedded"
) -> Iterator[LiveWorker]:
    """The embedded stack under ``work``, fresh ``name``-prefixed topics and a worker on them;
    all stopped on the way out, also on an error (the benchmark and the soak share it)."""
    stack = EmbeddedStack(work / "var")
    info, _ = stack.start()
    worker = None
    decisions = None
    try:
        topics = create_topics(info, name)
        worker = start_worker(info, topics, model_dir, work, batch_max, profile)
        decisions = Decisions(info.kafka_bootstrap, topics)
        yield LiveWorker(info, topics, worker, decisions)
    finally:
        if decisions is not None:
            decisions.close()
        if worker is not None:
            processes.stop_process(worker)
        stack.stop()


def run(
    model_dir: Path | None,
    *,
    n: int = 5000,
    rate: float = 100.0,
    rate_n: int = 1000,
    batch_max: int = 64,
    profile: str = "embedded",
) -> dict[str, float]:
    """Both phases on a fresh embedded stack; prints as it goes and returns the figures
    (`triage bench` calls this)."""
    bodies, source = texts()
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        work = Path(tmp)
        model_dir = model_dir.resolve() if model_dir else train_tfidf(work / "model")
        with live_worker(work, "bench", model_dir, batch_max, profile) as live:
            decisions = live.decisions
            producer = Producer({"bootstrap.servers": live.info.kafka_bootstrap, "linger.ms": 5})
            ready_s = warm_up(producer, live.topics.incoming, decisions, bodies, work)
            print(f"worker ready and warm in {ready_s:.1f} s (model {model_dir})")
            print(
                f"data: {source}, {len(bodies)} distinct texts; partitions {PARTITIONS}, "
                f"batch max {batch_max}, broker profile {profile}"
            )
            figures = full_throttle(producer, live.topics.incoming, decisions, bodies, n)
            figures.update(offered(producer, live.topics.incoming, decisions, bodies, rate, rate_n))
            figures["worker_peak_rss_mb"] = memory_mib(live.process.pid)
            print(f"worker peak RSS: {figures['worker_peak_rss_mb']:,.0f} MiB")
            print(f"bands over all {len(decisions.found)} decisions: {band_counts(decisions)}")
    return figures


def warm_up(
    producer: Producer, topic: str, decisions: Decisions, bodies: list[str], work: Path
) -> float:
    """Seconds until the worker answered a few tickets; its log on stderr when it never does."""
    t0 = time.monotonic()
    warm = publish(producer, topic, "warm", bodies, 20, None)
    try:
        decisions.wait(set(warm), timeout_s=120)
    except SystemExit:
        print((work / "worker.log").read_text()[-3000:], file=sys.stderr)
        raise
    return time.monotonic() - t0


def full_throttle(
    producer: Producer, topic: str, decisions: Decisions, bodies: list[str], n: int
) -> dict[str, float]:
    start = time.monotonic()
    ids = publish(producer, topic, "full", bodies, n, None)
    produced = time.monotonic()
    end = decisions.wait(set(ids), timeout_s=600)
    lat = latencies_ms(decisions, ids)
    print(
        f"full throttle: {n} tickets, produced in {produced - start:.2f} s, "
        f"all decided in {end - start:.2f} s -> {n / (end - start):,.0f} tickets/s; "
        f"latency p50 {pct(lat, 50):,.0f} ms, p95 {pct(lat, 95):,.0f} ms "
        "(includes queueing behind the backlog)"
    )
    return {"tickets_per_s": n / (end - start)}


def offered(
    producer: Producer,
    topic: str,
    decisions: Decisions,
    bodies: list[str],
    rate: float,
    rate_n: int,
) -> dict[str, float]:
    ids = publish(producer, topic, "rate", bodies, rate_n, rate)
    decisions.wait(set(ids), timeout_s=600)
    lat = latencies_ms(decisions, ids)
    print(
        f"offered {rate:.0f}/s: {rate_n} tickets; latency p50 "
        f"{pct(lat, 50):,.1f} ms, p95 {pct(lat, 95):,.1f} ms, max {max(lat):,.1f} ms"
    )
    return {"p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "max_ms": max(lat)}


def band_counts(decisions: Decisions) -> dict[str, int]:
    bands: dict[str, int] = {}
    for d in decisions.found.values():
        bands[str(d["band"])] = bands.get(str(d["band"]), 0) + 1
    return bands

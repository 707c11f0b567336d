"""Soak: tickets at a steady rate through the worker for a long time; RSS must stay flat and
lag bounded (issue 10). Out of the test suite on purpose: it runs for 20 minutes.

    .venv/bin/python bench/soak.py [--minutes 20] [--rate 100] [--model-dir DIR]

Every ``--sample-s`` seconds it records the worker's RSS and the lag (tickets published minus
tickets decided). Flat RSS: the last quarter's median RSS is within ``--max-growth-mib`` of the
second quarter's (the first quarter is warm-up: allocator arenas, caches). Bounded lag: the
largest lag seen after warm-up is under ``--max-lag`` tickets. Exit status 1 if either fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402

from ops.e2e import (  # noqa: E402
    live_worker,
    memory_mib,
    send_ticket,
    texts,
    train_tfidf,
    wait_turn,
)


def publisher(
    producer: Producer, topic: str, bodies: list[str], rate: float, stop_at: float, sent: list[int]
) -> None:
    start = time.monotonic()
    i = 0
    while time.monotonic() < stop_at:
        wait_turn(start, i, rate)
        send_ticket(producer, topic, f"soak-{i}", bodies[i % len(bodies)])
        i += 1
        sent[0] = i
    producer.flush(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--model-dir", type=Path, default=None, help="default: TF-IDF on sample")
    parser.add_argument("--max-growth-mib", type=float, default=20.0)
    parser.add_argument("--max-lag", type=int, default=1000)
    args = parser.parse_args()
    bodies, source = texts()
    with tempfile.TemporaryDirectory(prefix="triage-soak-") as tmp:
        work = Path(tmp)
        model_dir = args.model_dir.resolve() if args.model_dir else train_tfidf(work / "model")
        with live_worker(work, "soak", model_dir, 64) as live:
            producer = Producer({"bootstrap.servers": live.info.kafka_bootstrap, "linger.ms": 5})
            time.sleep(8)  # the worker joins its group
            sent = [0]
            stop_at = time.monotonic() + args.minutes * 60
            thread = threading.Thread(
                target=publisher,
                args=(producer, live.topics.incoming, bodies, args.rate, stop_at, sent),
                daemon=True,
            )
            started = time.monotonic()
            thread.start()
            samples: list[tuple[float, float, int]] = []
            while thread.is_alive():
                time.sleep(args.sample_s)
                lag = sent[0] - len(live.decisions.found)
                rss = memory_mib(live.process.pid, "VmRSS")
                samples.append((time.monotonic() - started, rss, lag))
                print(f"t={samples[-1][0]:6.0f} s  rss {rss:6.1f} MiB  lag {lag:5d}")
            live.decisions.wait({f"soak-{i}" for i in range(sent[0])}, timeout_s=120)
    quarter = max(1, len(samples) // 4)
    second = statistics.median(s[1] for s in samples[quarter : 2 * quarter])
    last = statistics.median(s[1] for s in samples[-quarter:])
    max_lag = max(s[2] for s in samples[quarter:]) if len(samples) > quarter else samples[-1][2]
    print(
        f"soak: {sent[0]} tickets at {args.rate:.0f}/s for {args.minutes:.0f} min ({source}); "
        f"all decided. worker RSS median {second:.1f} MiB (2nd quarter) -> {last:.1f} MiB "
        f"(last quarter), growth {last - second:+.1f} MiB, peak "
        f"{max(s[1] for s in samples):.1f} MiB; lag after warm-up max {max_lag} tickets, "
        f"p95 {sorted(s[2] for s in samples[quarter:])[int(0.95 * (len(samples) - quarter))]}"
    )
    ok = last - second <= args.max_growth_mib and max_lag <= args.max_lag
    print("PASS: flat RSS, bounded lag" if ok else "FAIL: RSS grew or lag was unbounded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

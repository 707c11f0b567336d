"""End-to-end benchmark: tickets through the embedded broker, the worker and back.

Starts the embedded stack and a `triage worker` subprocess, then
1. full throttle: publishes N tickets at once and measures decisions/s until the last decision;
2. offered load: publishes M tickets at a fixed rate and measures latency at that rate.
Latency is produce -> decision: the decision's ``decided_at`` minus ``received_at`` (the Kafka
timestamp of the incoming record), both from this machine's clock. Prints the worker's peak RSS.

    .venv/bin/python bench/e2e.py [--n 5000] [--rate 100] [--rate-n 1000] [--model-dir DIR]
                                  [--profile embedded|kafka]

``--profile kafka`` runs the worker with the settings meant for a real cluster (batching
producer, acks=all, 30 s session timeout, no fetch-wait override) against the embedded broker:
the profile must not depend on anything only tansu does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ops.e2e import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="tickets at full throttle")
    parser.add_argument("--rate", type=float, default=100.0, help="offered tickets/s")
    parser.add_argument("--rate-n", type=int, default=1000, help="tickets at the offered rate")
    parser.add_argument("--model-dir", type=Path, default=None, help="default: TF-IDF on sample")
    parser.add_argument("--batch-max", type=int, default=64, help="worker's TRIAGE_BATCH_MAX")
    parser.add_argument("--profile", choices=["embedded", "kafka"], default="embedded")
    args = parser.parse_args()
    run(
        args.model_dir,
        n=args.n,
        rate=args.rate,
        rate_n=args.rate_n,
        batch_max=args.batch_max,
        profile=args.profile,
    )


if __name__ == "__main__":
    main()

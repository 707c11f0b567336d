"""How long data health takes on the full exports (issue #3: 13k rows in a few seconds).

Prints, per data set, the read time and the prepare() time (median of --repeat runs) with the
headline figures of the report, so a regression in the clean-up, redaction or near-duplicate
search shows up as a number. Speed is measured here, never asserted in tests.

    .venv/bin/python bench/data_health.py [--data-root ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from models.data import read_labelled
from models.health import HealthConfig, prepare

DATASETS = (
    ("banking77", "banking77/train.csv", "text", "category"),
    ("cfpb-complaints", "cfpb-complaints/train.csv", "Consumer complaint narrative", "Product"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    header = (
        f"{'data set':<16} {'rows in':>8} {'rows out':>8} {'read s':>7} {'prepare s':>10}"
        f" {'min-max s':>10} {'rows/s':>8}  exact  near  conflicts  redacted  verdict"
    )
    print(header)
    for name, relative, text_col, label_col in DATASETS:
        path = args.data_root / relative
        start = time.perf_counter()
        data = read_labelled(path, text_col, label_col)
        read_s = time.perf_counter() - start
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            _, report = prepare(data, HealthConfig())
            timings.append(time.perf_counter() - start)
        prepare_s = statistics.median(timings)
        print(
            f"{name:<16} {report.rows_in:>8,} {report.rows_out:>8,} {read_s:>7.2f}"
            f" {prepare_s:>10.2f} {f'{min(timings):.2f}-{max(timings):.2f}':>10}"
            f" {report.rows_in / prepare_s:>8,.0f}"
            f"  {report.exact_duplicates:>5} {report.near_duplicates:>5}"
            f" {report.conflicting_duplicates:>10} {sum(report.redactions.values()):>9}"
            f"  {report.verdict} ({report.entropy_normalised:.3f})"
        )
    print(f"prepare s: median of {args.repeat} runs (min-max beside it); one process, one core")


if __name__ == "__main__":
    main()

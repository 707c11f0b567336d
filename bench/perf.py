"""Inference benchmark (issue #6): the same code as `triage bench`, runnable as a script.

.venv/bin/python bench/perf.py --model-dir bench/out/speed-model --json-out bench/out/perf.json
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ops.bench_cli import bench  # noqa: E402

if __name__ == "__main__":
    bench.main(prog_name="bench/perf.py")

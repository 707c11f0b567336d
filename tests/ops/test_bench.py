"""`triage bench` runs end to end on a tiny model and reports every figure (no timing checks).

One full run (the slowest test of the suite) carries every model and stream assertion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.bench_data import load_data
from ops.cli import cli

REQUIRED = (
    "naive_p50_ms",
    "single_p50_ms",
    "single_p95_ms",
    "throughput_ratio_long",
    "e2e_tickets_per_s",
    "e2e_p95_ms",
    "worker_peak_rss_mb",
    "fast_path_macro_f1_delta",
)


def test_sample_fallback_makes_long_tickets(tmp_path: Path, sample_dir: Path) -> None:
    data = load_data(data_dir=tmp_path / "none", sample_dir=sample_dir)
    assert "sample-team" in data.labelled
    assert "ten tickets joined" in data.sources["long"]
    assert min(len(t) for t in data.long) > max(len(t) for t in data.short[:10])


@pytest.mark.drill
@pytest.mark.slow
@pytest.mark.integration
def test_triage_bench_json_has_every_required_key(lora_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(lora_model_dir, model_dir)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench", "--model-dir", str(model_dir), "--json-out", str(out),
            "--single-n", "5", "--naive-n", "5", "--long-n", "8", "--short-n", "16",
            "--eval-rows", "40", "--e2e-n", "60", "--e2e-rate", "50", "--e2e-rate-n", "30",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in REQUIRED:
        assert figures[key] is not None, key
    assert figures["worker_peak_rss_mb"] > 0
    assert "end to end, tickets/s" in result.output
    assert "fast path, 1 ticket @128 tok, p50 ms" in result.output
    assert abs(figures["fast_path_macro_f1_delta"]) <= 1
    assert figures["fast_runtime"] == "onnx"
    # the fast path's single-ticket profile: every stage of the call measured
    for stage in ("encode", "forward", "rest"):
        assert figures[f"profile_{stage}_p50_ms"] > 0, stage
    assert "of which forward pass, p50 ms" in result.output

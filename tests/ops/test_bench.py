"""`triage bench` runs end to end on a tiny model and reports every figure (no timing checks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.bench import BenchConfig, run
from ops.bench_data import load_data
from ops.bench_table import ratios, render
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


@pytest.mark.slow
def test_bench_without_broker_prints_every_model_figure(
    lora_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(lora_model_dir, model_dir)
    config = BenchConfig(
        model_dir=model_dir, single_n=6, naive_n=6, long_n=16, short_n=32, eval_rows=60, e2e=False
    )
    results = run(config, say=lambda _line: None)
    results["ratios"] = ratios(results)
    table = render(results)
    for key in ("naive_p50_ms", "single_p50_ms", "throughput_ratio_long"):
        assert results[key] > 0
    assert abs(results["fast_path_macro_f1_delta"]) <= 1
    assert results["e2e_tickets_per_s"] is None
    assert "fast path, 1 ticket @128 tok, p50 ms" in table
    assert results["fast_runtime"] == "onnx"
    # the fast path's single-ticket profile: every stage of the call measured
    for stage in ("encode", "forward", "rest"):
        assert results[f"profile_{stage}_p50_ms"] > 0, stage
    assert "of which forward pass, p50 ms" in table


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

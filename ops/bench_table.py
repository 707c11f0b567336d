"""`triage bench`'s table: each figure beside the naive baseline and its target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BATCH_SIZES = (1, 8, 32, 64)


def machine() -> str:
    import platform

    from models import available_cores

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {available_cores()} cores"


#: (key, label, naive key the ratio is taken against, "lower" or "higher" is better, target)
ROWS: tuple[tuple[str, str, str | None, str, str], ...] = (
    ("naive_p50_ms", "naive pipeline, 1 ticket @128 tok, p50 ms", None, "lower", ""),
    ("naive_p95_ms", "naive pipeline, 1 ticket @128 tok, p95 ms", None, "lower", ""),
    ("naive_long_tickets_per_s", "naive pipeline @256 tok, tickets/s", None, "higher", ""),
    ("torch_single_p50_ms", "torch path, 1 ticket @128 tok, p50 ms", "naive_p50_ms", "lower", ""),
    ("single_p50_ms", "fast path, 1 ticket @128 tok, p50 ms", "naive_p50_ms", "lower", "<= 12"),
    ("single_p95_ms", "fast path, 1 ticket @128 tok, p95 ms", "naive_p95_ms", "lower", ""),
    ("profile_encode_p50_ms", "  of which tokenise (+clean, redact), p50 ms", None, "lower", ""),
    ("profile_forward_p50_ms", "  of which forward pass, p50 ms", None, "lower", ""),
    ("profile_rest_p50_ms", "  of which softmax + novelty, p50 ms", None, "lower", ""),
    *(
        (
            f"long_tickets_per_s_b{b}",
            f"fast path @256 tok, batch {b}, tickets/s",
            "naive_long_tickets_per_s",
            "higher",
            ">= 4x" if b == 64 else "",
        )
        for b in BATCH_SIZES
    ),
    (
        "torch_long_tickets_per_s_b64",
        "torch path @256 tok, batch 64, tickets/s",
        "naive_long_tickets_per_s",
        "higher",
        "",
    ),
    *(
        (
            f"short_tickets_per_s_b{b}",
            f"fast path, banking77, batch {b}, tickets/s",
            None,
            "higher",
            "",
        )
        for b in BATCH_SIZES
    ),
    ("e2e_tickets_per_s", "end to end, tickets/s (full throttle)", None, "higher", ">= 300"),
    ("e2e_p50_ms", "end to end @100/s offered, p50 ms", None, "lower", ""),
    ("e2e_p95_ms", "end to end @100/s offered, p95 ms", None, "lower", "<= 250"),
    ("worker_peak_rss_mb", "worker peak RSS, MiB", None, "lower", "<= 1536"),
    ("torch_macro_f1", "torch path macro-F1", None, "higher", ""),
    ("fast_macro_f1", "fast path macro-F1", None, "higher", ""),
    ("fast_path_macro_f1_delta", "fast - torch macro-F1", None, "higher", ">= -0.005"),
)


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """Each figure against the naive baseline: speed-up (>1 is better) for latency and rate.

    Figures without a like-for-like naive counterpart (end to end, RSS) are compared with the
    naive pipeline's one-at-a-time rate on 128-token tickets where that is meaningful.
    """
    out: dict[str, float] = {}
    naive_rate = 1000.0 / results["naive_p50_ms"]
    for key, _label, base, better, _target in ROWS:
        value = results.get(key)
        if value is None:
            continue
        if base is not None:
            ref = results[base]
            out[key] = ref / value if better == "lower" else value / ref
        elif key.startswith("short_tickets_per_s") or key == "e2e_tickets_per_s":
            out[key] = value / naive_rate
    return out


def render(results: dict[str, Any]) -> str:
    rel = results.get("ratios") or ratios(results)
    lines = [
        f"machine: {results['machine']}; threads {results['threads']}; "
        f"fast path = {results['fast_runtime']} ({results['onnx'].get('precision', '-')})",
        f"model: {results['model_dir']} {results.get('model_note', '')}".rstrip(),
        f"data: short {results['data']['short']}; long {results['data']['long']}",
        "",
        f"{'figure':<46} {'value':>10} {'x naive':>8}  target",
        "-" * 76,
    ]
    for key, label, _base, _better, target in ROWS:
        value = results.get(key)
        shown = "-" if value is None else f"{value:,.4f}" if abs(value) < 1.5 else f"{value:,.1f}"
        ratio = f"{rel[key]:.2f}x" if key in rel else ""
        lines.append(f"{label:<46} {shown:>10} {ratio:>8}  {target}")
    lines.append("")
    lines.append(
        "x naive: speed-up against the naive pipeline on the same tickets (latency: naive / ours;"
        " rates: ours / naive one-at-a-time)"
    )
    return "\n".join(lines)


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")

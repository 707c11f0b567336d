"""`triage bench`: the inference figures of issue #6, measured in one run on one model and data.

Everything is compared with the seeds' approach on the *same* merged model: a transformers
``pipeline("text-classification")`` called once per ticket. Against it:

- the project's path (what the worker calls, ``model.score(texts)``, including cleaning,
  redaction and tokenisation): one ticket at a time at 128 tokens, and batches of the worker's
  sizes on short (banking77) and long (CFPB, cut to 256 tokens) tickets;
- the same path on torch alone (``runtime=torch``), so the runtime's share is visible;
- end to end through the embedded broker and a real `triage worker` (:mod:`ops.e2e`);
- accuracy: macro-F1 of the fast path minus the torch path on labelled held-out tickets.

Each timed path runs in a process of its own (spawned, so nothing is inherited): torch's and
ONNX Runtime's thread pools spin-wait after each call, and in one process they starved each other
2-3x on 2 cores, which made the fast path look slower than it is. Timings are wall-clock on
whatever else the machine is doing: run it on a quiet machine, twice.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import LabelledData, described, read_labelled
from ops.bench_data import SAMPLE, BenchData, eval_set, load_data
from ops.bench_table import BATCH_SIZES, machine

SINGLE_TOKENS = 128
LONG_TOKENS = 256

Printer = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """What one bench run measures; `triage bench`'s options are made from these fields."""

    model_dir: Path | None
    single_n: int = described(100, "single-ticket calls timed")
    naive_n: int = described(60, "naive pipeline calls timed")
    long_n: int = described(256, "CFPB tickets for throughput")
    short_n: int = described(1024, "banking77 tickets")
    eval_rows: int = described(1000, "rows for the macro-F1 delta")
    batch_max: int = described(64, "the worker's TRIAGE_BATCH_MAX")
    e2e: bool = described(True, "run the broker part")
    e2e_n: int = described(3000, "tickets at full throttle")
    e2e_rate: float = described(100.0, "offered tickets/s")
    e2e_rate_n: int = described(1000, "tickets at that rate")
    threads: int | None = described(None, "default: all cores", envvar="TRIAGE_TORCH_THREADS")


# -- timing helpers --------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_each(call: Callable[[str], Any], texts: Sequence[str], warmup: int = 5) -> list[float]:
    """Milliseconds of one call per text (after a few warm-up calls)."""
    for text in texts[:warmup]:
        call(text)
    out = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def throughput(score: Callable[[list[str]], Any], texts: Sequence[str], batch: int) -> float:
    """Texts per second when the worker hands the model micro-batches of ``batch``."""
    score(list(texts[:batch]))  # warm-up: first-call allocations, kernel choice
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        score(list(texts[start : start + batch]))
    return len(texts) / (time.perf_counter() - started)


def with_max_length(model: Any, tokens: int) -> Callable[[], None]:
    """Temporarily serve at ``tokens`` (the bench's 128/256-token points); returns the undo."""
    previous = model.max_length
    model.max_length = tokens
    return lambda: setattr(model, "max_length", previous)


def cut_to_tokens(tokenizer: Any, texts: Sequence[str], tokens: int) -> list[str]:
    """Texts cut to ``tokens`` wordpieces, so the naive pipeline and our path see the same
    amount of text (the pipeline would otherwise truncate after redaction differs)."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)[
            "input_ids"
        ]
        out.append(tokenizer.decode(ids[: tokens - 2]))
    return out


# -- the parts ---------------------------------------------------------------------------------
def naive(torch_model: Any, single: list[str], long: list[str]) -> dict[str, float]:
    """The seeds' approach: a transformers pipeline, one ticket per call, same merged weights."""
    from transformers import pipeline

    pipe = pipeline(
        "text-classification",
        model=torch_model.model,
        tokenizer=torch_model.tokenizer,
        device="cpu",
    )

    def one(tokens: int) -> Callable[[str], Any]:
        return lambda text: pipe(text, truncation=True, max_length=tokens)

    single_ms = time_each(one(SINGLE_TOKENS), single)
    long_ms = time_each(one(LONG_TOKENS), long)
    return {
        "naive_p50_ms": percentile(single_ms, 50),
        "naive_p95_ms": percentile(single_ms, 95),
        "naive_long_tickets_per_s": 1000.0 / statistics.fmean(long_ms),
    }


def project_path(
    model: Any, prefix: str, single: list[str], short: list[str], long: list[str]
) -> dict[str, float]:
    """``model.score`` as the worker calls it: single tickets, then micro-batches."""
    out: dict[str, float] = {}
    undo = with_max_length(model, SINGLE_TOKENS)
    try:
        ms = time_each(lambda text: model.score([text]), single)
    finally:
        undo()
    out[f"{prefix}single_p50_ms"] = percentile(ms, 50)
    out[f"{prefix}single_p95_ms"] = percentile(ms, 95)
    for batch in BATCH_SIZES:
        out[f"{prefix}short_tickets_per_s_b{batch}"] = throughput(model.score, short, batch)
    undo = with_max_length(model, LONG_TOKENS)
    try:
        for batch in BATCH_SIZES:
            out[f"{prefix}long_tickets_per_s_b{batch}"] = throughput(model.score, long, batch)
    finally:
        undo()
    return out


def profile_single(model: Any, single: list[str], warmup: int = 5) -> dict[str, float]:
    """Where one ticket's time goes on the fast path, stage by stage inside the same call
    sequence ``score`` makes: tokenising (cleaning and redaction included), the forward pass,
    and the rest (softmax with the temperature, the novelty search), p50 ms each."""
    from models import softmax

    def stages(text: str) -> tuple[float, float, float]:
        started = time.perf_counter()
        ids = model.encode([text])
        encoded = time.perf_counter()
        logits, embedding = model.forward_ids(ids)
        forwarded = time.perf_counter()
        softmax(logits, model.temperature)
        if model.novelty is not None:
            model.novelty.is_novel(model.novelty.score(embedding))
        done = time.perf_counter()
        return encoded - started, forwarded - encoded, done - forwarded

    undo = with_max_length(model, SINGLE_TOKENS)
    try:
        for text in single[:warmup]:
            stages(text)
        rows = np.array([stages(text) for text in single]) * 1000
    finally:
        undo()
    encode, forward, rest = (percentile(rows[:, i].tolist(), 50) for i in range(3))
    return {
        "profile_encode_p50_ms": encode,
        "profile_forward_p50_ms": forward,
        "profile_rest_p50_ms": rest,
    }


def _naive_part(
    model_dir: str, threads: int | None, single: list[str], long: list[str]
) -> dict[str, float]:
    """Child-process body of the naive part: torch only, nothing else loaded."""
    from models import configure_threads, load

    configure_threads(threads)
    return naive(load(model_dir, "cpu", runtime="torch"), single, long)


def _path_part(
    model_dir: str,
    runtime: str,
    prefix: str,
    threads: int | None,
    texts: tuple[list[str], list[str], list[str]],
) -> dict[str, Any]:
    """Child-process body of one project-path part, served by ``runtime`` as the worker would."""
    from models import configure_threads, load

    configure_threads(threads)
    model: Any = load(model_dir, "cpu", runtime=runtime)
    single, short, long = texts
    out: dict[str, Any] = project_path(model, prefix, single, short, long)
    if not prefix:
        out["fast_runtime"] = getattr(model, "runtime", "torch")
        out.update(profile_single(model, single))
    return out


def isolated(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``function(*args)`` in a fresh spawned process, so its thread pools compete with nobody."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def held_out_macro_f1(model: Any, data: LabelledData) -> float:
    from models import macro_f1

    return macro_f1(model, data.labels, model.predict_proba(data.texts))


def e2e(model_dir: Path, config: BenchConfig) -> dict[str, float]:
    """:func:`ops.e2e.run`: embedded stack + a real worker process serving ``model_dir``."""
    from ops.e2e import run as run_e2e

    return run_e2e(
        model_dir,
        n=config.e2e_n,
        rate=config.e2e_rate,
        rate_n=config.e2e_rate_n,
        batch_max=config.batch_max,
    )


def quick_model(out: Path, say: Printer) -> Path:
    """A small LoRA model on the shipped sample, for a bench without a trained model."""
    from models import EvalPack, TrainConfig, TrainRequest, default_base_model, run

    sample = read_labelled(SAMPLE / "banking77_train.csv", "text", "team")
    say(f"no --model-dir: training a quick model on {len(sample)} sample tickets into {out}")
    config = TrainConfig(epochs=1, max_length=64, device="cpu")
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    request = TrainRequest(
        data=sample,
        config=config,
        pack=lenient,
        base_model=default_base_model(),
        health=None,
        progress=False,
    )
    run(request, out)
    return out


def ensure_export(model_dir: Path, data: BenchData, rows: int, say: Printer) -> dict[str, Any]:
    """The model's ONNX export record, building (and validating) it first when absent."""
    from models import build_onnx as build
    from models import onnx_record, read_manifest

    manifest = read_manifest(model_dir)
    record = onnx_record(manifest)
    if record is not None:
        return record
    name, held_out = eval_set(data, manifest.labels, rows)
    say(f"building the ONNX export of {model_dir}, validating on {len(held_out)} {name} rows")
    return build(model_dir, held_out.texts, held_out.labels)


def run(config: BenchConfig, say: Printer = print) -> dict[str, Any]:
    """Every figure, in one process and on one model; returns them (keys as in ``--json-out``)."""
    import tempfile

    from models import available_cores, configure_threads

    configure_threads(config.threads)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    model_dir = config.model_dir
    results: dict[str, Any] = {"machine": machine(), "threads": config.threads or available_cores()}
    if model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="triage-bench-model-")
        model_dir = quick_model(Path(tmp.name) / "model", say)
        results["model_note"] = "quick model trained on the shipped sample (no --model-dir)"
    try:
        results.update(_figures(model_dir, config, say))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return results


def _figures(model_dir: Path, config: BenchConfig, say: Printer) -> dict[str, Any]:
    from models import load

    data = load_data()
    results: dict[str, Any] = {"data": data.sources, "model_dir": str(model_dir)}
    record = ensure_export(model_dir, data, config.eval_rows, say)
    results["onnx"] = {k: v for k, v in record.items() if k != "tried"}
    # loaded here for its tokenizer and, after the timed parts, for the accuracy check
    torch_model: Any = load(model_dir, "cpu", runtime="torch")
    results.update(_timed(model_dir, torch_model.tokenizer, data, config, say))
    results.update(_accuracy(model_dir, torch_model, data, config.eval_rows, say))
    del torch_model
    if config.e2e:
        say("end to end through the broker ...")
        figures = e2e(model_dir, config)
        results.update(
            e2e_tickets_per_s=figures["tickets_per_s"],
            e2e_p50_ms=figures["p50_ms"],
            e2e_p95_ms=figures["p95_ms"],
            worker_peak_rss_mb=figures["worker_peak_rss_mb"],
        )
    else:
        results.update(e2e_tickets_per_s=None, e2e_p95_ms=None, worker_peak_rss_mb=None)
    return results


def _timed(
    model_dir: Path, tokenizer: Any, data: BenchData, config: BenchConfig, say: Printer
) -> dict[str, Any]:
    """The naive, torch and fast paths, each in a process of its own, on the same tickets."""
    single = cut_to_tokens(tokenizer, data.long[: config.single_n], SINGLE_TOKENS)
    long = cut_to_tokens(tokenizer, data.long[: config.long_n], LONG_TOKENS)
    short = data.short[: config.short_n]
    where, threads = str(model_dir), config.threads
    out: dict[str, Any] = {}
    say("naive pipeline (own process) ...")
    out.update(
        isolated(_naive_part, where, threads, single[: config.naive_n], long[: config.naive_n])
    )
    say("torch path (own process) ...")
    out.update(isolated(_path_part, where, "torch", "torch_", threads, (single, short, long)))
    say("fast path (own process) ...")
    out.update(isolated(_path_part, where, "auto", "", threads, (single, short, long)))
    say(f"fast path = {out['fast_runtime']}")
    b = config.batch_max if config.batch_max in BATCH_SIZES else max(BATCH_SIZES)
    out["batch_for_ratios"] = b
    out["throughput_ratio_long"] = out[f"long_tickets_per_s_b{b}"] / out["naive_long_tickets_per_s"]
    return out


def _accuracy(
    model_dir: Path, torch_model: Any, data: BenchData, rows: int, say: Printer
) -> dict[str, Any]:
    """Macro-F1 of the fast path minus the torch path on the same held-out tickets."""
    from models import load

    fast: Any = load(model_dir, "cpu", runtime="auto")
    name, held_out = eval_set(data, fast.labels, rows)
    say(f"accuracy on {len(held_out)} {name} rows ...")
    torch_f1, fast_f1 = held_out_macro_f1(torch_model, held_out), held_out_macro_f1(fast, held_out)
    return {
        "eval_data": name,
        "eval_rows": len(held_out),
        "torch_macro_f1": torch_f1,
        "fast_macro_f1": fast_f1,
        "fast_path_macro_f1_delta": fast_f1 - torch_f1,
    }

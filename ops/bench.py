"""`triage bench`: the inference figures of issue #6, measured in one run on one model and data.

Everything is compared with the seeds' approach on the *same* merged model: a transformers
``pipeline("text-classification")`` called once per ticket. Against it:

- the project's path (what the worker calls, ``model.score(texts)``, including cleaning,
  redaction and tokenisation): one ticket at a time at 128 tokens, and batches of the worker's
  sizes on short (banking77) and long (CFPB, cut to 256 tokens) tickets;
- the same path on torch alone (``runtime=torch``), so the runtime's share is visible;
- end to end through the embedded broker and a real `triage worker` (``bench/e2e.py``'s code);
- accuracy: macro-F1 of the fast path minus the torch path on labelled held-out tickets.

Each timed path runs in a process of its own (spawned, so nothing is inherited): torch's and
ONNX Runtime's thread pools spin-wait after each call, and in one process they starved each other
2-3x on 2 cores, which made the fast path look slower than it is. Timings are wall-clock on
whatever else the machine is doing: run it on a quiet machine, twice.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.data import LabelledData, read_labelled
from models.exceptions import ModelError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "data" / "sample"
BATCH_SIZES = (1, 8, 32, 64)
SINGLE_TOKENS = 128
LONG_TOKENS = 256

Printer = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    model_dir: Path | None
    single_n: int = 100
    naive_n: int = 60
    long_n: int = 256
    short_n: int = 1024
    eval_rows: int = 1000
    batch_max: int = 64
    e2e: bool = True
    e2e_n: int = 3000
    e2e_rate: float = 100.0
    e2e_rate_n: int = 1000
    threads: int | None = None


@dataclass
class BenchData:
    short: list[str]
    long: list[str]
    sources: dict[str, str]
    labelled: dict[str, LabelledData] = field(default_factory=dict)


# -- data ------------------------------------------------------------------------------------
def load_data(data_dir: Path = DATA, sample_dir: Path = SAMPLE) -> BenchData:
    """banking77 (short) and CFPB (long) test files when present, else the shipped sample.

    Without CFPB, long tickets are made by joining ten sample tickets: the lengths are right, the
    wording is not, which is all a speed figure needs.
    """
    labelled: dict[str, LabelledData] = {}
    sources: dict[str, str] = {}
    b77 = data_dir / "banking77" / "test.csv"
    if b77.is_file():
        data = read_labelled(b77, "text", "category")
        labelled["banking77-intent"] = data
        teams_file = data_dir / "banking77" / "teams.json"
        if teams_file.is_file():
            teams = json.loads(teams_file.read_text("utf-8"))["teams"]
            team_of = {intent: team for team, intents in teams.items() for intent in intents}
            labelled["banking77-team"] = LabelledData(
                data.texts, [team_of.get(i, i) for i in data.labels], data.source
            )
        short, sources["short"] = data.texts, str(b77)
    else:
        sample = read_labelled(sample_dir / "banking77_test.csv", "text", "team")
        labelled["sample-team"] = sample
        short, sources["short"] = sample.texts, str(sample.source)
    cfpb = data_dir / "cfpb-complaints" / "test.csv"
    if cfpb.is_file():
        complaints = read_labelled(cfpb, "Consumer complaint narrative", "Product")
        labelled["cfpb-product"] = complaints
        long, sources["long"] = complaints.texts, str(cfpb)
    else:
        long = [" ".join(short[i : i + 10]) for i in range(0, len(short) - 10, 10)]
        sources["long"] = f"{sources['short']} (ten tickets joined: no CFPB data here)"
    sample_test = sample_dir / "banking77_test.csv"
    if "sample-team" not in labelled and sample_test.is_file():
        labelled["sample-team"] = read_labelled(sample_test, "text", "team")
    return BenchData(short=short, long=long, sources=sources, labelled=labelled)


def eval_set(data: BenchData, labels: Sequence[str], rows: int) -> tuple[str, LabelledData]:
    """The labelled held-out set whose classes the model knows best (most rows it can score)."""
    known = set(labels)
    best: tuple[str, LabelledData] | None = None
    for name, part in data.labelled.items():
        keep = [i for i, label in enumerate(part.labels) if label in known]
        if not keep or len(keep) < 0.5 * len(part):
            continue
        step = max(1, len(keep) // rows)
        keep = keep[::step][:rows]
        subset = LabelledData(
            [part.texts[i] for i in keep], [part.labels[i] for i in keep], part.source
        )
        if best is None or len(subset) > len(best[1]):
            best = (name, subset)
    if best is None:
        raise ModelError(
            f"no labelled test data has this model's classes {sorted(known)[:8]}; the bench "
            "knows banking77 (intents or teams), CFPB products and the shipped sample"
        )
    return best


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
    from models.calibration import softmax

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
    from models.artifact import load
    from models.transformer import configure_threads

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
    from models.artifact import load
    from models.transformer import configure_threads

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


def macro_f1(model: Any, data: LabelledData) -> float:
    from sklearn.metrics import f1_score

    proba = model.predict_proba(data.texts)
    predicted = [model.labels[i] for i in proba.argmax(axis=1)]
    return float(f1_score(data.labels, predicted, average="macro", zero_division=0))


def e2e(model_dir: Path, config: BenchConfig) -> dict[str, float]:
    """bench/e2e.py's run: embedded stack + a real worker process serving ``model_dir``."""
    script = REPO / "bench" / "e2e.py"
    if not script.is_file():
        raise ModelError(f"{script} is missing: the end-to-end part needs the repository checkout")
    spec = importlib.util.spec_from_file_location("triage_bench_e2e", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures: dict[str, float] = module.run(
        model_dir,
        n=config.e2e_n,
        rate=config.e2e_rate,
        rate_n=config.e2e_rate_n,
        batch_max=config.batch_max,
    )
    return figures


def quick_model(out: Path, say: Printer) -> Path:
    """A small LoRA model on the shipped sample, for a bench without a trained model."""
    from models.gates import EvalPack
    from models.settings import default_base_model
    from models.train import TrainConfig, train

    sample = read_labelled(SAMPLE / "banking77_train.csv", "text", "team")
    say(f"no --model-dir: training a quick model on {len(sample)} sample tickets into {out}")
    config = TrainConfig(epochs=1, max_length=64, device="cpu")
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    result = train(sample, config, base_model=default_base_model(), pack=lenient, progress=False)
    return result.save(out)


def ensure_export(model_dir: Path, data: BenchData, rows: int, say: Printer) -> dict[str, Any]:
    """The model's ONNX export record, building (and validating) it first when absent."""
    from models import onnx
    from models.artifact import read_manifest

    manifest = read_manifest(model_dir)
    record = onnx.onnx_record(manifest)
    if record is not None:
        return record
    name, held_out = eval_set(data, manifest.labels, rows)
    say(f"building the ONNX export of {model_dir}, validating on {len(held_out)} {name} rows")
    return onnx.build(model_dir, held_out.texts, held_out.labels)


def run(config: BenchConfig, say: Printer = print) -> dict[str, Any]:
    """Every figure, in one process and on one model; returns them (keys as in ``--json``)."""
    import tempfile

    from models.artifact import load
    from models.runtime import available_cores
    from models.transformer import configure_threads

    configure_threads(config.threads)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    model_dir = config.model_dir
    results: dict[str, Any] = {"machine": machine(), "threads": config.threads or available_cores()}
    if model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="triage-bench-model-")
        model_dir = quick_model(Path(tmp.name) / "model", say)
        results["model_note"] = "quick model trained on the shipped sample (no --model-dir)"
    try:
        data = load_data()
        results["data"] = data.sources
        results["model_dir"] = str(model_dir)
        record = ensure_export(model_dir, data, config.eval_rows, say)
        results["onnx"] = {k: v for k, v in record.items() if k != "tried"}
        # loaded here for its tokenizer and, after the timed parts, for the accuracy check
        torch_model: Any = load(model_dir, "cpu", runtime="torch")
        tokenizer = torch_model.tokenizer
        single = cut_to_tokens(tokenizer, data.long[: config.single_n], SINGLE_TOKENS)
        long = cut_to_tokens(tokenizer, data.long[: config.long_n], LONG_TOKENS)
        short = data.short[: config.short_n]
        where, threads = str(model_dir), config.threads
        say("naive pipeline (own process) ...")
        results.update(
            isolated(_naive_part, where, threads, single[: config.naive_n], long[: config.naive_n])
        )
        say("torch path (own process) ...")
        results.update(
            isolated(_path_part, where, "torch", "torch_", threads, (single, short, long))
        )
        say("fast path (own process) ...")
        results.update(isolated(_path_part, where, "auto", "", threads, (single, short, long)))
        say(f"fast path = {results['fast_runtime']}")
        b = config.batch_max if config.batch_max in BATCH_SIZES else max(BATCH_SIZES)
        results["batch_for_ratios"] = b
        results["throughput_ratio_long"] = (
            results[f"long_tickets_per_s_b{b}"] / results["naive_long_tickets_per_s"]
        )
        fast: Any = load(model_dir, "cpu", runtime="auto")
        name, held_out = eval_set(data, fast.labels, config.eval_rows)
        say(f"accuracy on {len(held_out)} {name} rows ...")
        torch_f1, fast_f1 = macro_f1(torch_model, held_out), macro_f1(fast, held_out)
        results.update(
            eval_data=name,
            eval_rows=len(held_out),
            torch_macro_f1=torch_f1,
            fast_macro_f1=fast_f1,
            fast_path_macro_f1_delta=fast_f1 - torch_f1,
        )
        del torch_model, fast
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
    finally:
        if tmp is not None:
            tmp.cleanup()
    return results


def machine() -> str:
    import platform

    from models.runtime import available_cores

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {available_cores()} cores"


# -- the table -----------------------------------------------------------------------------------
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

"""`triage bench`: the inference speed and accuracy figures, naive baseline beside each."""

from __future__ import annotations

from pathlib import Path

import click

from models import json_out_option, label_col_option, limit_option, text_col_option


@click.command("bench")
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="trained transformer model; without it a quick one is trained on the sample",
)
@json_out_option()
@click.option("--single-n", default=100, show_default=True, help="single-ticket calls timed")
@click.option("--naive-n", default=60, show_default=True, help="naive pipeline calls timed")
@click.option("--long-n", default=256, show_default=True, help="CFPB tickets for throughput")
@click.option("--short-n", default=1024, show_default=True, help="banking77 tickets")
@click.option("--eval-rows", default=1000, show_default=True, help="rows for the macro-F1 delta")
@click.option("--batch-max", default=64, show_default=True, help="the worker's TRIAGE_BATCH_MAX")
@click.option("--e2e/--no-e2e", default=True, show_default=True, help="run the broker part")
@click.option("--e2e-n", default=3000, show_default=True, help="tickets at full throttle")
@click.option("--e2e-rate", default=100.0, show_default=True, help="offered tickets/s")
@click.option("--e2e-rate-n", default=1000, show_default=True, help="tickets at that rate")
@click.option("--threads", type=int, envvar="TRIAGE_TORCH_THREADS", help="default: all cores")
def bench(
    model_dir: Path | None,
    json_out: Path | None,
    single_n: int,
    naive_n: int,
    long_n: int,
    short_n: int,
    eval_rows: int,
    batch_max: int,
    e2e: bool,
    e2e_n: int,
    e2e_rate: float,
    e2e_rate_n: int,
    threads: int | None,
) -> None:
    """Naive pipeline vs the project's inference path vs end to end, on one model and data.

    Builds (and validates) the model's ONNX export first when it has none; the export is written
    into the model directory, where the worker will then use it.
    """
    from ops.bench import BenchConfig, run
    from ops.bench_table import ratios, render, write_json

    config = BenchConfig(
        model_dir=model_dir,
        single_n=single_n,
        naive_n=naive_n,
        long_n=long_n,
        short_n=short_n,
        eval_rows=eval_rows,
        batch_max=batch_max,
        e2e=e2e,
        e2e_n=e2e_n,
        e2e_rate=e2e_rate,
        e2e_rate_n=e2e_rate_n,
        threads=threads,
    )
    results = run(config, say=lambda line: click.echo(line, err=True))
    results["ratios"] = ratios(results)
    click.echo(render(results))
    if json_out is not None:
        write_json(json_out, results)
        click.echo(f"figures written to {json_out}")


@click.command("distill")
@click.option(
    "--model-dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="trained transformer model; the teacher, in which the student is recorded",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="labelled CSV/JSONL the student learns from",
)
@click.option(
    "--test",
    "test_path",
    type=click.Path(path_type=Path, exists=True),
    help="explicit test file; without it the student is scored on rows held out of --data",
)
@text_col_option
@label_col_option
@click.option("--layers", default=3, show_default=True, help="encoder layers the student keeps")
@click.option("--epochs", default=3, show_default=True, help="passes over the training data")
@limit_option("rows of --data used")
def distill(
    model_dir: Path,
    data_path: Path,
    test_path: Path | None,
    text_col: str,
    label_col: str,
    layers: int,
    epochs: int,
    limit: int | None,
) -> None:
    """Train a smaller student from the model's outputs; ship it (as the model's ONNX engine)
    only when its test macro-F1 is within 0.005 of the model's."""
    import json

    from models import DistillConfig, LabelledData, distill_dir, read_labelled

    data = read_labelled(data_path, text_col, label_col)
    if limit:
        data = LabelledData(data.texts[:limit], data.labels[:limit], data.source)
    test = read_labelled(test_path, text_col, label_col) if test_path else None
    record = distill_dir(
        model_dir, data, DistillConfig(layers=layers, epochs=epochs), test=test, progress=True
    )
    click.echo(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=2))
    verdict = "shipped" if record["shipped"] else "NOT shipped (outside the macro-F1 bound)"
    click.echo(f"student with layers {record['layers']}: {verdict}")


COMMANDS = [bench, distill]

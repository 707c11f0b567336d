"""`triage bench`: the inference speed and accuracy figures, naive baseline beside each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from models import json_out_option, label_col_option, limit_option, options_from, text_col_option
from ops.bench import BenchConfig


@click.command("bench")
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="trained transformer model; without it a quick one is trained on the sample",
)
@json_out_option()
@options_from(BenchConfig)  # every figure's size, --single-n to --threads
def bench(model_dir: Path | None, json_out: Path | None, **figures: Any) -> None:
    """Naive pipeline vs the project's inference path vs end to end, on one model and data.

    Builds (and validates) the model's ONNX export first when it has none; the export is written
    into the model directory, where the worker will then use it.
    """
    from ops.bench import run
    from ops.bench_table import ratios, render, write_json

    config = BenchConfig(model_dir=model_dir, **figures)
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

"""`triage data ...`: inspect a labelled export before training."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models.cli_options import label_col_option, text_col_option
from models.exceptions import SevereImbalance

#: Exit status of `triage data inspect` when the labels are too imbalanced to train on.
EXIT_SEVERE = SevereImbalance.exit_code


@click.group("data")
def data_group() -> None:
    """Check labelled exports before they are trained on."""


@data_group.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="data-health config (JSON); synonyms, allowed_labels, min_class_count, ...",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def inspect(
    file: Path, text_col: str, label_col: str, config_path: Path | None, as_json: bool
) -> None:
    """Clean, de-duplicate and redact FILE (CSV or JSONL) and report its health.

    Exits 0 when the labels are healthy, modest or meaningfully imbalanced, 3 when severely
    imbalanced (training would refuse it without --force).
    """
    from models.data import read_labelled
    from models.health import HealthConfig, prepare, severe_message

    config = HealthConfig.from_json(config_path) if config_path else HealthConfig()
    _, report = prepare(read_labelled(file, text_col, label_col), config)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(report.render())
    if report.verdict == "severe":
        raise SevereImbalance(severe_message(report))


COMMANDS: list[click.Command] = [data_group]

"""`triage data ...`: inspect a labelled export before training."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models.cli_options import (
    health_config_option,
    label_col_option,
    seed_option,
    text_col_option,
)
from models.exceptions import DataError, SevereImbalance

#: Exit status of `triage data inspect` when the labels are too imbalanced to train on.
EXIT_SEVERE = SevereImbalance.exit_code


@click.group("data")
def data_group() -> None:
    """Check labelled exports before they are trained on."""


@data_group.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@health_config_option("synonyms, allowed_labels, min_class_count, ...", dest="config_path")
@click.option(
    "--label-issues",
    is_flag=True,
    help="also list rows whose label the out-of-fold predictions contradict (confident "
    "learning; 5 TF-IDF fits, about a minute on 10,000 rows)",
)
@seed_option("the --label-issues folds")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def inspect(
    file: Path,
    text_col: str,
    label_col: str,
    config_path: Path | None,
    label_issues: bool,
    seed: int,
    as_json: bool,
) -> None:
    """Clean, de-duplicate and redact FILE (CSV or JSONL) and report its health.

    Exits 0 when the labels are healthy, modest or meaningfully imbalanced, 3 when severely
    imbalanced (training would refuse it without --force). With --label-issues the suspect
    rows follow (row numbers count data rows from 1, as read, before de-duplication).
    """
    from models.data import read_labelled
    from models.health import HealthConfig, prepare, severe_message
    from models.label_issues import find_label_issues

    config = HealthConfig.from_json(config_path) if config_path else HealthConfig()
    data = read_labelled(file, text_col, label_col)
    _, report = prepare(data, config)
    issues = find_label_issues(data, seed=seed) if label_issues else None
    if as_json:
        out = report.to_dict()
        if issues is not None:
            out["label_issues"] = issues.to_dict()
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        click.echo(report.render())
        if issues is not None:
            click.echo("\n" + issues.render())
    if report.verdict == "severe":
        raise SevereImbalance(severe_message(report))


@data_group.command("augment")
@click.argument("file", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@click.option(
    "--noise",
    help="comma-separated noise kinds: typos, casing, slang, punctuation, emotion",
    default="typos,casing,slang,punctuation",
    show_default=True,
)
@click.option(
    "--rate",
    type=float,
    default=0.15,
    show_default=True,
    help="share of each copy's words that get noise (0 < rate <= 1)",
)
@seed_option("the noise")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="where the result goes; a new .csv or .jsonl file: FILE's rows, then a noisy copy of each",
)
def augment_command(
    file: Path, text_col: str, label_col: str, noise: str, rate: float, seed: int, out: Path
) -> None:
    """Write FILE's rows and a noisy copy of each to OUT, with a column ``augmented``
    (false for FILE's rows, true for the copies) so the copies can be told apart or removed.

    Every column of FILE is kept; a copy differs from its row only in TEXT_COL."""
    from models.augment import augment, check_rate, parse_kinds
    from models.data import iter_records, read_labelled

    kinds, rate = parse_kinds(noise), check_rate(rate)
    if out.exists() and out.resolve() == file.resolve():
        raise DataError(f"--out {out} is FILE itself; write the augmented copy to a new file")
    data = read_labelled(file, text_col, label_col)  # refuses unusable files before writing
    copies = augment(data, kinds, rate, seed)
    records = list(iter_records(file))
    rows = [{**r, "augmented": False} for r in records]
    rows += [
        {**r, text_col: t, "augmented": True} for r, t in zip(records, copies.texts, strict=True)
    ]
    _write_rows(out, rows)
    click.echo(f"wrote {len(rows)} rows to {out}: {len(records)} from {file}, {len(copies)} noisy")


def _write_rows(out: Path, rows: list[dict[str, object]]) -> None:
    import csv

    from models.data import JSONL_SUFFIXES

    with out.open("w", encoding="utf-8", newline="") as handle:
        if out.suffix.lower() in JSONL_SUFFIXES:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in row.items()}
            for row in rows
        )


COMMANDS: list[click.Command] = [data_group]

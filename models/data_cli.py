"""`triage data ...`: inspect a labelled export before training."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

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
@click.option(
    "--fill",
    is_flag=True,
    help="add rows to the classes under --fill-share, made from their own rows (or by "
    "TRIAGE_TEACHER_URL's endpoint when set); instead of noise",
)
@click.option(
    "--fill-share",
    type=float,
    help="the share each filled class reaches (default: 0.75 of an even share)",
)
@click.option(
    "--hard-negatives",
    type=int,
    default=0,
    help="repeat this many rows per most-confused class pair (0: off; 3 TF-IDF folds)",
)
@click.option("--from-cluster", type=int, help="also seed rows from this failure cluster")
@click.option(
    "--clusters",
    type=click.Path(path_type=Path),
    help="the report holding --from-cluster: `triage evaluate --report-dir`, or a model folder",
)
def augment_command(
    file: Path,
    text_col: str,
    label_col: str,
    noise: str,
    rate: float,
    seed: int,
    out: Path,
    **fill: Any,
) -> None:
    """Write FILE's rows and a noisy copy of each to OUT, with a column ``augmented``
    (false for FILE's rows, true for the copies) so the copies can be told apart or removed.

    With --fill, --hard-negatives or --from-cluster, OUT instead holds FILE's rows and the
    generated ones, marked in columns ``synthetic`` (the generator), ``synthetic_source`` (the
    FILE rows it was made from) and ``synthetic_note``; `triage data synthetic OUT` lists them.
    Every column of FILE is kept; a copy differs from its row only in TEXT_COL."""
    from models.augment import augment, check_rate, parse_kinds
    from models.data import iter_records, read_labelled

    kinds, rate = parse_kinds(noise), check_rate(rate)
    if out.exists() and out.resolve() == file.resolve():
        raise DataError(f"--out {out} is FILE itself; write the augmented copy to a new file")
    data = read_labelled(file, text_col, label_col)  # refuses unusable files before writing
    if fill["fill"] or fill["hard_negatives"] or fill["from_cluster"] is not None:
        _fill(file, data, (text_col, label_col), seed, out, fill)
        return
    copies = augment(data, kinds, rate, seed)
    records = list(iter_records(file))
    rows = [{**r, "augmented": False} for r in records]
    rows += [
        {**r, text_col: t, "augmented": True} for r, t in zip(records, copies.texts, strict=True)
    ]
    _write_rows(out, rows)
    click.echo(f"wrote {len(rows)} rows to {out}: {len(records)} from {file}, {len(copies)} noisy")


def _fill(
    file: Path, data: Any, columns: tuple[str, str], seed: int, out: Path, options: Any
) -> None:
    """`triage data augment --fill/--hard-negatives/--from-cluster`: the marked copy."""
    from models.data import iter_records
    from models.fill import (
        FillConfig,
        cluster_rows,
        fill_rows,
        hard_negative_rows,
        load_cluster,
        marked_records,
    )
    from models.teacher import configured_teacher

    if options["from_cluster"] is not None and options["clusters"] is None:
        raise DataError("--from-cluster needs --clusters REPORT (the `--report-dir` of evaluate)")
    config = FillConfig(
        balance=options["fill"],
        share=options["fill_share"],
        hard_negatives=options["hard_negatives"],
        seed=seed,
        teacher=configured_teacher() if options["fill"] else None,
    )
    groups = [fill_rows(data, config), hard_negative_rows(data, config)]
    if options["from_cluster"] is not None:
        cluster = load_cluster(options["clusters"], options["from_cluster"])
        groups.append(cluster_rows(data, cluster, config))
    records = list(iter_records(file))
    if len(records) != len(data):
        raise DataError(f"{file}: {len(records)} records but {len(data)} labelled rows")
    _write_rows(out, marked_records(records, groups, *columns))
    made: Counter[str] = Counter()
    for group in groups:
        made.update(group.counts())
    shown = ", ".join(f"{n} {kind}" for kind, n in sorted(made.items())) or "none"
    click.echo(
        f"wrote {len(records) + sum(made.values())} rows to {out}: {len(records)} from "
        f"{file}, generated {shown} (`triage data synthetic {out}` lists them)"
    )


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


@data_group.command("synthetic")
@click.argument("file", type=click.Path(path_type=Path))
@text_col_option
@label_col_option
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def synthetic_command(file: Path, text_col: str, label_col: str, as_json: bool) -> None:
    """List the generated rows of FILE (written by `triage data augment`) for review: row,
    generator, source rows, label and the start of the text."""
    from models.data import iter_records
    from models.fill import synthetic_records

    rows = synthetic_records(list(iter_records(file)))
    if as_json:
        click.echo(json.dumps([{"row": n, **r} for n, r in rows], indent=2, ensure_ascii=False))
        return
    click.echo(f"{len(rows)} generated rows in {file}")
    for n, r in rows:
        kind = r.get("synthetic") or "noise"
        text = str(r.get(text_col, "")).replace("\n", " ")[:80]
        source, note = r.get("synthetic_source", ""), r.get("synthetic_note", "")
        click.echo(f"  row {n}: {kind} of {source or '-'} {note} [{r.get(label_col)}] {text}")


COMMANDS: list[click.Command] = [data_group]

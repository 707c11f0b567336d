"""`triage simulate`: the whole learning loop on a stack of its own, with a simulated reviewer.

It starts the embedded stack, so it lives at the top (``ops``), which may use every package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from models import (
    held_out_fraction_option,
    json_out_option,
    label_col_option,
    seed_option,
    text_col_option,
)


@click.command("simulate")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--seed-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.1,
    show_default=True,
    help="share of the non-test rows the starter model is trained on",
)
@text_col_option
@label_col_option
@click.option(
    "--label-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON mapping labels to coarser ones ({label: new} or {group: [labels]})",
)
@held_out_fraction_option()
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="share of the simulated reviewer's answers that are wrong",
)
@click.option(
    "--retrain-after",
    type=click.IntRange(min=1),
    default=None,
    help="corrections that trigger a retrain [settings: TRIAGE_RETRAIN_AFTER]",
)
@click.option("--max-rounds", type=click.IntRange(min=1), default=None, help="stop after N runs")
@click.option(
    "--step-timeout",
    "step_timeout_s",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="seconds one step (a training run) may take",
)
@click.option(
    "--backend",
    type=click.Choice(["lora-transformer", "tfidf"]),
    default=None,
    help="model family retrained [settings: TRIAGE_BACKEND]",
)
@click.option(
    "--per-class-thresholds",
    is_flag=True,
    help="workers in shadow mode with per-class route thresholds fitted after each deploy",
)
@click.option(
    "--shadow-mode/--no-shadow-mode",
    default=True,
    show_default=True,
    help="with --per-class-thresholds: route nothing of a class until it qualifies (off: it "
    "routes at the global threshold until it has enough reviews)",
)
@click.option(
    "--poison",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="one more reviewer sends this many wrong labels among the honest ones; the learner "
    "holds contradicted corrections (TRIAGE_HOLD_CONFIDENCE, else 0.90) and a simulated second "
    "reviewer judges them",
)
@seed_option("splits and the reviewer's mistakes")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/simulate"),
    show_default=True,
    help="where each run's stack, store and models go",
)
@json_out_option("one row per round; with --poison, {rows, poison}")
def simulate_command(
    retrain_after: int | None, backend: str | None, json_out: Path | None, **options: Any
) -> None:
    """Run the whole learning loop on the embedded stack with a simulated reviewer.

    DATA is a labelled CSV/JSONL file; the reviewer answers with its labels.
    """
    from learner import LearnerSettings
    from ops.simulate import SimulationConfig, simulate
    from ops.simulate_table import render
    from store import HoldRule

    settings = LearnerSettings()
    # the other options' names are SimulationConfig's fields; these fall back on settings
    config = SimulationConfig(
        **options,
        retrain_after=retrain_after or settings.retrain_after,
        backend=backend or settings.backend,  # type: ignore[arg-type]
        margins=settings.margins(),
        hold=settings.hold_rule() or HoldRule(flag=settings.flag_rule()),
    )
    result = simulate(config, progress=lambda line: click.echo(line, err=True))
    click.echo(render(result))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        rows = [row.as_dict() for row in result.rows]
        out: object = rows
        if result.poison is not None:
            out = {"rows": rows, "poison": result.poison.as_dict()}
        json_out.write_text(json.dumps(out, indent=2, default=str) + "\n", "utf-8")


COMMANDS: list[click.Command] = [simulate_command]

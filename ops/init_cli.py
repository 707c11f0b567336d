"""`triage init`: the one-shot set-up of a fresh deployment (see :mod:`ops.init`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from models import (
    head_options,
    held_out_fraction_option,
    label_col_option,
    seed_option,
    text_col_option,
)


@click.command("init")
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="labelled CSV/JSONL export: split into the gold set (first run only)",
)
@text_col_option
@label_col_option
@click.option(
    "--sub-label-col",
    help="the child label column under --label-col (team -> intent); the gold set keeps it "
    "and every model is a team -> intent hierarchy",
)
@held_out_fraction_option("the gold test set")
@click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="import this `triage train` output as the first model instead of training one",
)
@seed_option("the gold split")
@head_options
def init_command(**options: Any) -> None:
    """Set up a fresh deployment: schema, topics, gold set, first model. Safe to run again.

    Settings are the learner's (TRIAGE_DATABASE_URL, TRIAGE_GOLD_DIR, TRIAGE_REGISTRY_DIR,
    TRIAGE_BACKEND, ...). What exists is kept: a second run changes nothing. Extra heads
    (--task-col, --multi-label-col) are kept in the gold set, and every retrain trains them.
    """
    from learner import LearnerSettings
    from ops.init import InitOptions, initialise

    # click's parameter names are InitOptions' field names (test_fraction from --test-fraction)
    for line in initialise(LearnerSettings(), InitOptions(**options)):
        click.echo(line)


COMMANDS = [init_command]

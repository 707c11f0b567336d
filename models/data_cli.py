"""`triage data ...`: inspect a labelled export before training."""

import click

COMMANDS: list[click.Command] = []

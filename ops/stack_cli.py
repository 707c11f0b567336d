"""`triage stack up|down`: the embedded default stack."""

import click

COMMANDS: list[click.Command] = []

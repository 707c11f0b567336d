"""`triage` commands of the models package."""

import click

COMMANDS: list[click.Command] = []

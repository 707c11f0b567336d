"""`triage` commands of the learner package."""

import click

COMMANDS: list[click.Command] = []

"""`triage` commands of the stream package."""

import click

COMMANDS: list[click.Command] = []

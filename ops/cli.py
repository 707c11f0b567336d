"""The `triage` command: one entry point; each package contributes its own commands.

Command modules import heavy libraries (torch, faust) inside the command functions, so
`triage --help` stays instant. A :class:`~schemas.exceptions.TriageError` becomes a one-line
message on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from schemas import TriageError

#: "module:attribute" of a click command, or of a list of them.
COMMAND_MODULES = (
    "schemas.cli:schemas_group",
    "models.cli:COMMANDS",
    "models.data_cli:COMMANDS",
    "stream.cli:COMMANDS",
    "ops.stack_cli:COMMANDS",
    "ops.init_cli:COMMANDS",
    "ops.bench_cli:COMMANDS",
    "learner.cli:COMMANDS",
    "ops.simulate_cli:COMMANDS",
    "web.cli:COMMANDS",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ticket-triage")
def cli() -> None:
    """Streaming support-ticket triage that learns from the people who correct it."""


def _register() -> None:
    for target in COMMAND_MODULES:
        module_name, attr = target.split(":")
        found = getattr(importlib.import_module(module_name), attr)
        for command in found if isinstance(found, list | tuple) else [found]:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TriageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""`triage stack up|down|status`: the embedded default stack; `triage demo`."""

from __future__ import annotations

from pathlib import Path

import click

from models import limit_option

VAR_DIR = Path("var")


@click.group("stack")
def stack_group() -> None:
    """The embedded broker (tansu) and redis-server for a laptop: no Docker, no root."""


@stack_group.command("up")
def up() -> None:
    """Start the broker and redis on free loopback ports; write var/stack.env."""
    from ops.stack import EmbeddedStack

    info, started = EmbeddedStack(VAR_DIR).start()
    state = "started" if started else "already up"
    click.echo(f"stack {state}: kafka {info.kafka_bootstrap}, redis {info.redis_url}")
    click.echo(f"settings written to {info.env_file}")


@stack_group.command("down")
def down() -> None:
    """Stop exactly the processes `triage stack up` started."""
    from ops.stack import EmbeddedStack

    stopped = EmbeddedStack(VAR_DIR).stop()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "stack was not running")


@stack_group.command("status")
def status() -> None:
    """Say which embedded services are running, and where."""
    from ops.stack import EmbeddedStack

    stack = EmbeddedStack(VAR_DIR)
    records, live = stack.records(), stack.running()
    if not records:
        click.echo("stack is down")
        return
    for name, record in records.items():
        state = "running" if name in live else "DEAD (run `triage stack down` then `up`)"
        click.echo(f"{name}: {state}, pid {record.pid}, port {record.port}, log {record.log}")


@click.command("demo")
@limit_option("test tickets streamed")
def demo(limit: int | None) -> None:
    """Stack up, starter model, worker, stream the sample tickets, print decisions, stop."""
    from ops.demo import run_demo

    run_demo(VAR_DIR, limit=limit)


COMMANDS: list[click.Command] = [stack_group, demo]

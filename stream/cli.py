"""`triage worker` and `triage produce`: the streaming path's commands."""

from __future__ import annotations

from pathlib import Path

import click

from models import limit_option, loglevel_option


@click.command("worker")
@loglevel_option
def worker(loglevel: str) -> None:
    """Run the classify worker (settings from TRIAGE_* env and var/stack.env)."""
    from stream.settings import WorkerSettings
    from stream.worker import run

    run(WorkerSettings(), loglevel=loglevel)


@click.command("produce")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--body-col",
    default="body",
    show_default=True,
    help="column holding the ticket body (the Ticket event's body)",
)
@click.option(
    "--id-col",
    default="ticket_id",
    show_default=True,
    help="column holding the ticket id; absent: <stem>-<row>",
)
@click.option("--subject-col", default=None, help="column holding the subject, if any")
@limit_option("tickets sent")
def produce_command(
    file: Path, body_col: str, id_col: str, subject_col: str | None, limit: int | None
) -> None:
    """Publish FILE, a CSV or JSONL export, to tickets.incoming, keyed by ticket_id."""
    import logging

    from bus import ConnectionSettings, producer_config
    from models import progress_bar
    from schemas import Topics
    from stream.produce import Columns, produce

    settings = ConnectionSettings()
    topic = Topics(settings.topic_prefix).incoming
    # No broker is one line (PublishFailed names the address and TRIAGE_KAFKA_BOOTSTRAP);
    # aiokafka's own log of the same failure would only repeat it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with progress_bar(total=limit, unit="ticket", desc=f"-> {topic}") as bar:
        report = produce(
            file,
            config=producer_config(settings),
            topic=topic,
            columns=Columns(text=body_col, ticket_id=id_col, subject=subject_col),
            limit=limit,
            on_sent=bar.update,
        )
    for problem in report.problems[:20]:
        click.echo(problem, err=True)
    if len(report.problems) > 20:
        click.echo(f"... and {len(report.problems) - 20} more rows without text", err=True)
    click.echo(f"published {report.sent} tickets to {topic}; {len(report.problems)} rows not sent")


COMMANDS: list[click.Command] = [worker, produce_command]

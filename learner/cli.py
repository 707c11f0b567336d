"""`triage` commands of the learner package: the review queue, band precision, the registry.

Heavy imports (SQLAlchemy, the store) happen inside the commands so `triage --help` stays instant.
Settings are read once here and passed down as typed arguments.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from learner.corrections_cli import Listing, corrections_group, limit_option
from learner.thresholds_cli import thresholds_group
from models import loglevel_option

if TYPE_CHECKING:
    from learner.settings import LearnerSettings
    from schemas import DriftSummary
    from store import ModelRecord, QueueItem, Store


def _settings() -> LearnerSettings:
    from learner.settings import LearnerSettings

    return LearnerSettings()


def _open(settings: LearnerSettings) -> Store:
    from store import Store

    return Store.open(settings.database_url)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


@click.command("queue")
@limit_option(20, "tickets shown")
@click.option("--band", type=click.Choice(["shadow", "manual"]), help="only this band")
@click.option("--label", help="only tickets the model gave this label")
@click.option("--model-version", help="only decisions of this model version")
@click.option(
    "--per-label-cap", type=click.IntRange(min=1), help="most tickets per label [settings]"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def queue_command(
    limit: int,
    band: str | None,
    label: str | None,
    model_version: str | None,
    per_label_cap: int | None,
    as_json: bool,
) -> None:
    """Tickets awaiting review, most uncertain first (smallest top-2 margin)."""
    settings = _settings()
    with _open(settings) as store:
        items = store.review_queue(
            limit,
            band=band,  # type: ignore[arg-type]
            label=label,
            model_version=model_version,
            per_label_cap=per_label_cap or settings.queue_per_label_cap,
        )
    _QUEUE.echo(items, as_json)


def _queue_line(i: QueueItem) -> str:
    text = " ".join(i.text.split())[:60]
    return (
        f"{i.margin:>7.3f} {i.confidence:>6.3f} {i.band:<7} {i.label[:24]:<24} "
        f"{i.ticket_id[:20]:<20} {text}"
    )


@click.group("report")
def report_group() -> None:
    """Reports on how the classifier is doing, from the people who reviewed it."""


@report_group.command("bands")
@click.option("--since", default="24h", show_default=True, help="window: 30m, 24h, 7d, 2w")
@click.option("--all-time", is_flag=True, help="ignore --since and use every decision")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@click.option(
    "--fail-below-target",
    is_flag=True,
    help="exit 1 when routed precision is below the target (for cron/CI checks)",
)
def report_bands(since: str, all_time: bool, as_json: bool, fail_below_target: bool) -> None:
    """Precision per band and per class per band, over reviewed decisions; then, per class,
    would-route precision and how far it is from switching on (all reviews, any window); then
    each live worker's drift window, and STALE when one is past the limit."""
    from datetime import UTC, datetime

    from learner.thresholds import deployed_status
    from store import parse_window, render_band_report

    start = None if all_time else datetime.now(UTC) - parse_window(since)
    settings = _settings()
    drift = _drift_board(settings)
    with _open(settings) as store:
        report = store.band_precision(since=start, target=settings.routed_precision_target)
        status = deployed_status(store, settings.threshold_policy(), drift)
    if as_json:
        click.echo(_dump({**report.as_dict(), "thresholds": status[0]}))
    else:
        click.echo(render_band_report(report) + "\n\n" + status[1])
    if fail_below_target and report.routed_below_target:
        raise SystemExit(1)


def _drift_board(settings: LearnerSettings) -> list[DriftSummary] | str:
    """The workers' drift summaries, or why they cannot be read: the report goes on without
    them (precision comes from the database, drift from redis)."""
    from bus import BusError, read_board

    try:
        return read_board(settings)
    except BusError as exc:
        return str(exc)


@click.group("models")
def models_group() -> None:
    """The model registry: every version, its status and gate report."""


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def models_list(as_json: bool) -> None:
    """Every model version, newest first; the deployed one is marked with *."""
    with _open(_settings()) as store:
        records = store.model_versions()
    _VERSIONS.echo(records, as_json)


def _version_dict(r: ModelRecord) -> dict[str, Any]:
    return {
        "version": r.version,
        "status": r.status,
        "model_dir": r.model_dir,
        "parent_version": r.parent_version,
        "created_at": r.created_at.isoformat(),
        "deployed_at": r.deployed_at.isoformat() if r.deployed_at else None,
        "metrics": r.metrics,
        "gate_report": r.gate_report,
    }


def _version_line(r: ModelRecord) -> str:
    f1 = (r.metrics or {}).get("macro_f1")
    f1_text = f"{f1:.4f}" if isinstance(f1, int | float) else "-"
    from store import gate_rows

    mark = "*" if r.status == "deployed" else " "
    lines = [
        f"{mark} {r.version:<32} {r.status:<10} {f1_text:>8} "
        f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.parent_version or '-'}"
    ]
    for gate in gate_rows(r.gate_report):  # the verdict and the paired figures behind it
        why = f" ({gate.detail})" if gate.detail else ""
        lines.append(f"    {gate.name}: {'pass' if gate.passed else 'FAIL'}{why}")
        lines += [f"      {figure}" for figure in gate.figures]
    return "\n".join(lines)


_QUEUE: Listing[QueueItem] = Listing(
    "the review queue is empty",
    f"{'margin':>7} {'conf':>6} {'band':<7} {'label':<24} {'ticket':<20} text",
    _queue_line,
)
_VERSIONS: Listing[ModelRecord] = Listing(
    "no model versions registered yet",
    f"  {'version':<32} {'status':<10} {'macro_f1':>8} {'created':<20} parent",
    _version_line,
    _version_dict,
)


@models_group.command("rollback")
@click.argument("version")
def models_rollback(version: str) -> None:
    """Serve an earlier deployed VERSION again (announced on models.deployed as a rollback)."""
    from learner.deploy import Announcer, rollback
    from schemas import Topics

    settings = _settings()
    announcer = Announcer.from_settings(
        settings, Topics(settings.topic_prefix), settings.threshold_policy()
    )
    with _open(settings) as store:
        event = rollback(store, announcer, version)
    click.echo(f"rolled back to {event.version} (was {event.previous_version or '-'})")


@click.command("learner")
@loglevel_option
def learner_command(loglevel: str) -> None:
    """Run the learner: record decisions and corrections, retrain, gate and deploy."""
    from learner.service import run

    run(_settings(), loglevel=loglevel)


@click.command("correct")
@click.argument("ticket_id")
@click.argument("label")
@click.option(
    "--reviewer", required=True, help="the reviewer's name; who decided, kept with the correction"
)
@click.option(
    "--action",
    type=click.Choice(["confirm", "override"]),
    default="override",
    show_default=True,
    help="confirm the model's label, or override it with LABEL",
)
@click.option("--note", default=None, help="why, for the record")
@click.option(
    "--idempotency-key",
    default=None,
    help="the correction's id; by default derived from ticket, head, label and reviewer, "
    "so sending the same correction again is a no-op",
)
def correct_command(
    ticket_id: str,
    label: str,
    reviewer: str,
    action: str,
    note: str | None,
    idempotency_key: str | None,
) -> None:
    """Publish a reviewer's correction of TICKET_ID to tickets.corrections.

    LABEL is the team the ticket belongs to (with --action confirm, the model's own label).
    """
    import logging

    from bus import producer_config, publish_once
    from models import redact_text
    from schemas import Correction, Topics

    settings = _settings()
    fields = {"ticket_id": ticket_id, "label": label, "reviewer": reviewer, "action": action}
    if idempotency_key:
        fields["correction_id"] = idempotency_key
    correction = Correction.model_validate({**fields, "note": redact_text(note)})
    topic = Topics(settings.topic_prefix).corrections
    # A failed send raises PublishFailed, one line naming the broker and its setting; aiokafka's
    # own log of the same failure would only repeat it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    publish_once(producer_config(settings), topic, ticket_id, correction.model_dump_json())
    click.echo(f"published correction {correction.correction_id} to {topic}")


COMMANDS: list[click.Command] = [
    queue_command,
    report_group,
    models_group,
    learner_command,
    correct_command,
    corrections_group,
    thresholds_group,
]

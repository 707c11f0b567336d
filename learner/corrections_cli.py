"""`triage corrections`: list, quarantine, release and delete stored corrections.

A module of its own so ``learner/cli.py`` stays readable; :mod:`learner.cli` lists the group in
its ``COMMANDS``. The store is imported inside the commands so ``triage --help`` stays instant.
Every change needs a reason and names who made it (``--by``, default: the login name), because
each one is written to the audit log (``triage corrections audit``).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import click

if TYPE_CHECKING:
    from store import AuditEntry, CorrectionRecord, Selection, Store


def _store() -> Store:
    from learner.settings import LearnerSettings
    from store import Store

    return Store.open(LearnerSettings().database_url)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return ""


def _selection(correction_ids: tuple[str, ...], run: int | None, reviewer: str | None) -> Selection:
    from store import Selection

    return Selection(correction_ids=correction_ids, run=run, reviewer=reviewer)


def _report(verb: str, entry: AuditEntry | None) -> None:
    if entry is None:
        click.echo(f"nothing to {verb}: every selected correction already is")
        return
    click.echo(
        f"{entry.action} #{entry.id}: {len(entry.correction_ids)} corrections by {entry.actor}"
    )


run_option = click.option(
    "--run", type=int, help="the training run; only corrections it consumed (or held)"
)
reviewer_option = click.option("--reviewer", help="the reviewer's name; only corrections they sent")


F = TypeVar("F", bound=Callable[..., Any])


def limit_option(default: int, note: str) -> Callable[[F], F]:
    """``--limit``/``-n`` of a listing; each listing says what it counts."""
    return click.option(
        "--limit",
        "-n",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help=f"at most N; {note}",
    )


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")

R = TypeVar("R")


def _as_dict(row: Any) -> Any:
    return row.as_dict()


@dataclass(frozen=True)
class Listing(Generic[R]):
    """How one listing prints, so that every listing prints the same way: JSON when asked, one
    sentence for nothing, else an optional header and a line a row."""

    empty: str
    header: str | None
    line: Callable[[R], str]
    as_dict: Callable[[R], Any] = _as_dict

    def echo(self, rows: Sequence[R], as_json: bool) -> None:
        if as_json:
            click.echo(json.dumps([self.as_dict(r) for r in rows], indent=2, default=str))
            return
        if not rows:
            click.echo(self.empty)
            return
        if self.header is not None:
            click.echo(self.header)
        for r in rows:
            click.echo(self.line(r))


def _change_options(fn: Any) -> Any:
    """The selection and the who/why every change takes, in one place."""
    for option in reversed(
        [
            click.argument("correction_ids", nargs=-1, metavar="CORRECTION_ID"),
            run_option,
            reviewer_option,
            click.option("--reason", required=True, help="why, for the audit log"),
            click.option(
                "--by",
                "actor",
                default=_login_name,
                show_default="your login name",
                help="who makes the change, for the audit log",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@click.group("corrections")
def corrections_group() -> None:
    """Stored corrections: review what a rejected retrain quarantined, release or delete it."""


@corrections_group.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "quarantined", "held", "overturned"]),
    help="only this status",
)
@run_option
@reviewer_option
@click.option("--ticket", "ticket_id", help="only this ticket's corrections")
@limit_option(50, "newest first")
@json_option
def corrections_list(
    status: str | None,
    run: int | None,
    reviewer: str | None,
    ticket_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Corrections, newest first."""
    with _store() as store:
        records = store.list_corrections(
            status=status,  # type: ignore[arg-type]
            run=run,
            reviewer=reviewer,
            ticket_id=ticket_id,
            limit=limit,
        )
    _CORRECTIONS.echo(records, as_json)


def _correction_line(r: CorrectionRecord) -> str:
    run_text = str(r.used_in_training_run) if r.used_in_training_run is not None else "-"
    return (
        f"{r.correction_id[:32]:<32} {r.status:<11} {run_text:>4} {r.ticket_id[:20]:<20} "
        f"{r.label[:20]:<20} {r.reviewer}"
    )


@corrections_group.command("quarantine")
@_change_options
def corrections_quarantine(
    correction_ids: tuple[str, ...], run: int | None, reviewer: str | None, reason: str, actor: str
) -> None:
    """Hold corrections out of training and the retrain count until released.

    Select them by CORRECTION_ID..., --run or --reviewer.
    """
    with _store() as store:
        entry = store.quarantine(
            _selection(correction_ids, run, reviewer), actor=actor, reason=reason
        )
    _report("quarantine", entry)


@corrections_group.command("release")
@_change_options
def corrections_release(
    correction_ids: tuple[str, ...], run: int | None, reviewer: str | None, reason: str, actor: str
) -> None:
    """Return quarantined corrections to training; they count toward the next retrain.

    Select them by CORRECTION_ID..., --run or --reviewer.
    """
    with _store() as store:
        entry = store.release(_selection(correction_ids, run, reviewer), actor=actor, reason=reason)
    _report("release", entry)


@corrections_group.command("delete")
@_change_options
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def corrections_delete(
    correction_ids: tuple[str, ...],
    run: int | None,
    reviewer: str | None,
    reason: str,
    actor: str,
    yes: bool,
) -> None:
    """Delete corrections for good (the audit log keeps what they said, not their notes).

    Select them by CORRECTION_ID..., --run or --reviewer.
    """

    selection = _selection(correction_ids, run, reviewer)
    if not yes:
        click.confirm(f"delete the corrections of {selection.describe()}?", abort=True)
    with _store() as store:
        entry = store.delete_corrections(selection, actor=actor, reason=reason)
    _report("delete", entry)


@corrections_group.command("audit")
@limit_option(50, "newest first")
@json_option
def corrections_audit(limit: int, as_json: bool) -> None:
    """Who quarantined, released or deleted which corrections, when and why; newest first."""
    with _store() as store:
        entries = store.audit_log(limit=limit)
    _AUDIT.echo(entries, as_json)


def _audit_line(e: AuditEntry) -> str:
    run_text = f" run {e.training_run}" if e.training_run is not None else ""
    return (
        f"#{e.id} {e.acted_at:%Y-%m-%d %H:%M:%S} {e.actor} {e.action} "
        f"{len(e.correction_ids)}{run_text}: {e.reason}"
    )


_CORRECTIONS: Listing[CorrectionRecord] = Listing(
    "no corrections match",
    f"{'id':<32} {'status':<11} {'run':>4} {'ticket':<20} {'label':<20} reviewer",
    _correction_line,
)
_AUDIT: Listing[AuditEntry] = Listing("the audit log is empty", None, _audit_line)

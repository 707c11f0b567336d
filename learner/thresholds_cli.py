"""`triage thresholds`: fit the per-class route thresholds of the deployed model on demand.

The learner refits after every deploy; this is for an operator who changed the target or the
minimum reviews, or wants the latest reviews to count before the next retrain. Workers serving
the model reload the written set within ``TRIAGE_MODEL_POLL_S``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("thresholds")
def thresholds_group() -> None:
    """Per-class route thresholds fitted from reviewed decisions."""


@thresholds_group.command("fit")
@click.option("--dry-run", is_flag=True, help="print the fit, write nothing")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def thresholds_fit(dry_run: bool, as_json: bool) -> None:
    """Fit each class's route threshold from the store's reviews and write it next to the
    deployed model (thresholds.json), where workers pick it up.

    A class routes from the lowest threshold at which the one-sided Wilson lower bound of its
    reviewed precision reaches TRIAGE_ROUTED_PRECISION_TARGET; with fewer than
    TRIAGE_THRESHOLD_MIN_REVIEWS reviews it keeps the global default.
    """
    from learner.exceptions import LearnerError
    from learner.settings import LearnerSettings
    from learner.thresholds import fit_from_store, refit, render_status
    from models import read_fitted
    from store import Store

    settings = LearnerSettings()
    policy = settings.threshold_policy()
    with Store.open(settings.database_url) as store:
        record = store.deployed_model()
        if record is None:
            raise LearnerError("no model is deployed: run `triage init` first")
        model_dir = Path(record.model_dir)
        in_force = read_fitted(model_dir) if dry_run else None
        fit = fit_from_store if dry_run else refit
        fitted = fit(store, policy, model_dir, record.version)
    if as_json:
        click.echo(json.dumps(fitted.model_dump(mode="json"), indent=2))
        return
    written = fitted if not dry_run else in_force
    click.echo(render_status(fitted, written.version if written else None))
    if not dry_run:
        click.echo(f"\nwrote {model_dir / 'thresholds.json'}")


COMMANDS: list[click.Command] = [thresholds_group]

"""Fitting per-class route thresholds from the store's reviewed decisions, and writing them
next to the deployed model, where workers pick them up (``stream.serving.ModelWatcher``).

The learner refits after every deploy (:func:`learner.deploy.deploy` with a policy), so a new
model serves with thresholds from all the reviews so far; `triage thresholds fit` refits on
demand. The fit itself (the Wilson bound, the grid, too few reviews) and the per-class status
the dashboard shows too are :mod:`models` (:func:`models.review_status`); this module only
writes and renders for the command line. ``ThresholdPolicy`` lives there as well.

Reviews of every model version count: a class that switched on is seldom reviewed again above
its threshold, so its evidence is the history. Confidences are temperature-calibrated, which
keeps one version's comparable with the next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models import ThresholdPolicy as ThresholdPolicy  # its home; learner code imports it here

if TYPE_CHECKING:
    from models import FittedThresholds, ThresholdStatus
    from schemas import DriftSummary
    from store import Store

log = logging.getLogger(__name__)


def fit_from_store(
    store: Store, policy: ThresholdPolicy, model_dir: Path, model_version: str | None = None
) -> FittedThresholds:
    """The fitted set for the model in ``model_dir`` (its shadow threshold is the grid's floor:
    no class routes below it)."""
    from models import fit_reviews

    return fit_reviews(store.precision_curve, model_dir, policy, model_version)


def refit(store: Store, policy: ThresholdPolicy, model_dir: Path, version: str) -> FittedThresholds:
    """Fit and write ``thresholds.json`` into ``model_dir``; workers serving it reload it."""
    from models import write_fitted

    fitted = fit_from_store(store, policy, model_dir, version)
    path = write_fitted(model_dir, fitted)
    log.info(
        "fitted threshold set %s for %s: %d of %d classes qualified (%s)",
        fitted.version,
        version,
        len(fitted.qualified()),
        len(fitted.classes),
        path,
    )
    return fitted


def render_status(fitted: FittedThresholds, in_force: str | None) -> str:
    """Per class: reviews, would-route precision and its bound, how far from switching on."""
    lines = [
        f"per-class route thresholds (target {fitted.target:.2f}, one-sided Wilson "
        f"{fitted.confidence:.0%} lower bound, at least {fitted.min_reviews} reviews); "
        f"a refit now gives {fitted.version}, in force: {in_force or 'none'}",
        "",
        f"{'class':<28} {'reviewed':>8} {'would-route':>11} {'bound':>6}  status",
    ]
    for label, fit in fitted.classes.items():
        precision = "-" if fit.precision is None else f"{fit.precision:.3f}"
        lines.append(
            f"{label[:28]:<28} {fit.reviewed:>8} {precision:>11} {fit.lower_bound:>6.3f}  "
            f"{fitted.status(label)}"
        )
    if not fitted.classes:
        lines.append("no reviewed decisions yet: every class is on the default threshold")
    return "\n".join(lines)


def render_drift(status: ThresholdStatus, drift: Sequence[DriftSummary] | str) -> str:
    """The workers' drift windows (``bus.DriftBoard``) and whether they make the set stale;
    ``drift`` as text: why the board could not be read."""
    if isinstance(drift, str):
        return f"drift: unknown ({drift})"
    serving = [d for d in drift if d.model_version == status.model_version]
    if not serving:
        return f"drift: no live worker of {status.model_version} reported a drift window"
    lines = [f"drift of {status.model_version} per worker (window, PSI limit, PSI per signal):"]
    for d in serving:
        figures = " ".join(f"{k} {v:.3f}" for k, v in sorted(d.psi.items())) or "-"
        lines.append(
            f"  {d.worker:<28} {d.state:<8} {d.decisions:>6}/{d.window:<6} "
            f"limit {d.limit:.2f}  {figures}"
        )
    if status.stale:
        lines.append(
            f"STALE: drift past the limit on {', '.join(status.drifted_workers)}: the per-class "
            "thresholds were fitted on traffic unlike today's; review recent decisions and "
            "refit (`triage thresholds fit`)"
        )
    return "\n".join(lines)


def deployed_status(
    store: Store, policy: ThresholdPolicy, drift: Sequence[DriftSummary] | str = ()
) -> tuple[dict[str, Any], str]:
    """(JSON, text) of the deployed model's :class:`models.ThresholdStatus` (the dashboard's
    too) and the workers' drift; nothing deployed: empty."""
    from models import review_status

    record = store.deployed_model()
    if record is None:
        return {}, "per-class route thresholds: no model is deployed"
    summaries = () if isinstance(drift, str) else drift
    status, fitted = review_status(
        store.precision_curve, Path(record.model_dir), record.version, policy, summaries
    )
    as_json = {
        **status.model_dump(mode="json"),
        "drift": [d.model_dump(mode="json") for d in summaries],
        "drift_error": drift if isinstance(drift, str) else None,
    }
    text = render_status(fitted, status.in_force) + "\n\n" + render_drift(status, drift)
    return as_json, text

"""Fitting per-class route thresholds from the store's reviewed decisions, and writing them
next to the deployed model, where workers pick them up (``stream.serving.ModelWatcher``).

The learner refits after every deploy (:func:`learner.deploy.deploy` with a policy), so a new
model serves with thresholds from all the reviews so far; `triage thresholds fit` refits on
demand. The fit itself (the Wilson bound, the grid, too few reviews) is
:func:`models.fit_route_thresholds`; this module only counts and writes.

Reviews of every model version count: a class that switched on is seldom reviewed again above
its threshold, so its evidence is the history. Confidences are temperature-calibrated, which
keeps one version's comparable with the next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models import FittedThresholds
    from store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThresholdPolicy:
    """TRIAGE_ROUTED_PRECISION_TARGET, TRIAGE_THRESHOLD_MIN_REVIEWS, TRIAGE_THRESHOLD_CONFIDENCE."""

    target: float = 0.95
    min_reviews: int = 100
    confidence: float = 0.95


def fit_from_store(
    store: Store, policy: ThresholdPolicy, model_dir: Path, model_version: str | None = None
) -> FittedThresholds:
    """The fitted set for the model in ``model_dir`` (its shadow threshold is the grid's floor:
    no class routes below it)."""
    from models import candidate_thresholds, fit_route_thresholds

    grid = candidate_thresholds(_shadow_threshold(model_dir))
    curve = store.precision_curve(grid)
    counts = {
        label: [(p.reviewed, p.correct) for p in row] for label, row in curve.per_class.items()
    }
    return fit_route_thresholds(
        list(curve.thresholds),
        counts,
        target=policy.target,
        min_reviews=policy.min_reviews,
        confidence=policy.confidence,
        model_version=model_version,
    )


def _shadow_threshold(model_dir: Path) -> float:
    """The model's shadow threshold, or the default one when its manifest cannot be read (a
    report on a registry whose model files live elsewhere)."""
    from models import ModelError, Thresholds, read_manifest

    try:
        recorded = read_manifest(model_dir).thresholds or {}
    except ModelError:
        recorded = {}
    return float(recorded.get("shadow", Thresholds().shadow))


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


def deployed_status(store: Store, policy: ThresholdPolicy) -> tuple[dict[str, Any], str]:
    """(JSON, text) of :func:`render_status` for the deployed model; nothing deployed: empty."""
    from models import read_fitted

    record = store.deployed_model()
    if record is None:
        return {}, "per-class route thresholds: no model is deployed"
    model_dir = Path(record.model_dir)
    fitted = fit_from_store(store, policy, model_dir, record.version)
    in_force = read_fitted(model_dir)
    as_json = {
        **fitted.model_dump(mode="json"),
        "in_force": in_force.version if in_force else None,
        "status": {label: fitted.status(label) for label in fitted.classes},
    }
    return as_json, render_status(fitted, in_force.version if in_force else None)

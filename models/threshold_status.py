"""How far each class is from switching on: one status for `triage report bands` and the web.

The fit is :mod:`models.threshold_set`; this module runs it on the store's review counts for a
deployed model (``curve_at`` is :meth:`store.Store.precision_curve`, passed in: models sits
below the store), sets the result beside the set in force, and marks it stale while a worker
serving that model says its traffic drifted (``bus.DriftBoard``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from models.exceptions import ModelError
from models.threshold_set import (
    FittedThresholds,
    candidate_thresholds,
    fit_route_thresholds,
    read_fitted,
)
from schemas import DriftSummary


@dataclass(frozen=True)
class ThresholdPolicy:
    """TRIAGE_ROUTED_PRECISION_TARGET, TRIAGE_THRESHOLD_MIN_REVIEWS, TRIAGE_THRESHOLD_CONFIDENCE."""

    target: float = 0.95
    min_reviews: int = 100
    confidence: float = 0.95


class ReviewPoint(Protocol):
    @property
    def reviewed(self) -> int: ...
    @property
    def correct(self) -> int: ...


class ReviewCurve(Protocol):
    """Reviewed / correct per class at each threshold (``store.PrecisionCurve``)."""

    @property
    def thresholds(self) -> Sequence[float]: ...
    @property
    def per_class(self) -> Mapping[str, Sequence[ReviewPoint]]: ...


class ClassStatus(BaseModel):
    """One class of :class:`ThresholdStatus`."""

    label: str
    reviewed: int = Field(description="reviewed non-novel decisions of this class")
    would_route_precision: float | None = Field(
        description="precision of the reviewed decisions at its threshold (at the best one "
        "when it has none); None: none reviewed there"
    )
    lower_bound: float = Field(description="the Wilson lower bound of that precision")
    threshold: float | None = Field(description="its route threshold; None: not switched on")
    state: Literal["needs_reviews", "on", "held_back"]
    reviews_needed: int = Field(ge=0, description="reviews still missing before it may switch on")
    status: str = Field(description="the same, in words")


class ThresholdStatus(BaseModel):
    """A refit on today's reviews beside the set in force: per class, how far from switching on."""

    model_version: str
    refit_version: str = Field(description="the version a refit now would write")
    in_force: str | None = Field(description="the set workers serve with; None: none fitted")
    target: float
    min_reviews: int
    confidence: float
    classes: list[ClassStatus]
    stale: bool = Field(
        False, description="a worker serving this model reports drift past its limit"
    )
    drifted_workers: list[str] = Field(default_factory=list)


def class_status(fitted: FittedThresholds) -> list[ClassStatus]:
    rows = []
    for label, fit in fitted.classes.items():
        missing = max(0, fitted.min_reviews - fit.reviewed)
        on = not missing and fit.threshold is not None
        rows.append(
            ClassStatus(
                label=label,
                reviewed=fit.reviewed,
                would_route_precision=fit.precision,
                lower_bound=fit.lower_bound,
                threshold=fit.threshold,
                state="needs_reviews" if missing else "on" if on else "held_back",
                reviews_needed=missing,
                status=fitted.status(label),
            )
        )
    return rows


def shadow_floor(model_dir: Path) -> float:
    """The model's shadow threshold (no class routes below it), or the default one when its
    manifest cannot be read (a report on a registry whose model files live elsewhere)."""
    from models.artifact import read_manifest
    from models.bands import Thresholds

    try:
        recorded = read_manifest(model_dir).thresholds or {}
    except ModelError:
        recorded = {}
    return float(recorded.get("shadow", Thresholds().shadow))


def fit_reviews(
    curve_at: Callable[[list[float]], ReviewCurve],
    model_dir: Path,
    policy: ThresholdPolicy,
    model_version: str | None = None,
) -> FittedThresholds:
    """The set :func:`fit_route_thresholds` gives on the reviews ``curve_at(grid)`` counts (the
    store's :meth:`precision_curve`) for the model in ``model_dir``."""
    curve = curve_at(candidate_thresholds(shadow_floor(model_dir)))
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


def review_status(
    curve_at: Callable[[list[float]], ReviewCurve],
    model_dir: Path,
    model_version: str,
    policy: ThresholdPolicy | None = None,
    drift: Sequence[DriftSummary] = (),
) -> tuple[ThresholdStatus, FittedThresholds]:
    """(status, the refit behind it). ``policy`` None: the in-force set's own target, minimum
    and confidence (a service without the learner's settings judges by the rule in force),
    the defaults when none is in force yet. The set is stale while any worker serving
    ``model_version`` says in ``drift`` (``bus.DriftBoard``) that its traffic moved past the
    limit: the reviews it was fitted on no longer describe what it routes."""
    drifted = sorted(d.worker for d in drift if d.model_version == model_version and d.stale)
    in_force = read_fitted(model_dir)
    if policy is None:
        source = in_force or ThresholdPolicy()
        policy = ThresholdPolicy(source.target, source.min_reviews, source.confidence)
    fitted = fit_reviews(curve_at, model_dir, policy, model_version)
    status = ThresholdStatus(
        model_version=model_version,
        refit_version=fitted.version,
        in_force=in_force.version if in_force else None,
        target=fitted.target,
        min_reviews=fitted.min_reviews,
        confidence=fitted.confidence,
        classes=class_status(fitted),
        stale=bool(drifted),
        drifted_workers=drifted,
    )
    return status, fitted

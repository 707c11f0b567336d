"""Per-class route thresholds fitted from reviewed traffic: the fit, and the file it lives in.

One global route threshold serves every class badly: a class the model often confuses needs a
higher one to keep its routed precision, an easy class could route more at a lower one. The
people who review decisions say which is which. For each predicted class, among its reviewed
(non-novel) decisions, the fit picks the *lowest* threshold ``t`` on a 0.01 grid (from the
shadow threshold up) at which the **Wilson score lower bound** (one-sided, 95 % by default) of
precision among the reviewed decisions with confidence >= ``t`` reaches the target (0.95). A
bound, not the point estimate: 19 of 20 right is 0.95 but says little. A class with fewer than
``min_reviews`` reviewed decisions is not fitted and keeps the global default; a class with
enough reviews that reaches the target at no threshold is *held back* (not auto-routed at all).

The result is a versioned :class:`FittedThresholds`, written as ``thresholds.json`` next to the
model it serves with (the learner refits after each deploy, `triage thresholds fit` on demand);
workers hot-reload it like a model. The band rule that applies it is :mod:`models.bands`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.exceptions import ArtifactError, ModelError

#: the file next to a model's manifest that holds its fitted thresholds
THRESHOLDS_FILE = "thresholds.json"
BOUND = "wilson-lower-one-sided"
#: grid step of candidate thresholds
STEP = 0.01


def wilson_lower_bound(correct: int, reviewed: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower bound of ``correct / reviewed`` (0.0 with nothing reviewed).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is not fooled by
    a perfect record on few tickets (20 of 20 gives 0.881 at 95 %, not 1.0).
    """
    if reviewed <= 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    p = correct / reviewed
    z2n = z * z / reviewed
    centre = p + z2n / 2
    spread = z * math.sqrt(p * (1 - p) / reviewed + z2n / (4 * reviewed))
    return max(0.0, (centre - spread) / (1 + z2n))


def candidate_thresholds(floor: float) -> list[float]:
    """0.0 (every reviewed decision: the review count), then ``floor`` .. 0.99 by ``STEP``."""
    start = math.ceil(round(floor / STEP, 6))
    return [0.0, *(round(i * STEP, 2) for i in range(start, round(1 / STEP)))]


class ClassFit(BaseModel):
    """What the reviews say about one predicted class, and how far it is from switching on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reviewed: int = Field(ge=0, description="reviewed non-novel decisions of this class")
    #: the lowest threshold meeting the target; None: not fitted (too few) or held back
    threshold: float | None = None
    #: reviewed / correct / lower bound at ``threshold`` (at the best threshold when None)
    routed_reviewed: int = 0
    routed_correct: int = 0
    lower_bound: float = 0.0

    @property
    def precision(self) -> float | None:
        return self.routed_correct / self.routed_reviewed if self.routed_reviewed else None


class FittedThresholds(BaseModel):
    """A versioned set of per-class route thresholds and the evidence behind each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    model_version: str | None = None
    fitted_at: datetime
    target: float = Field(gt=0, le=1)
    min_reviews: int = Field(ge=1)
    confidence: float = Field(gt=0.5, lt=1)
    bound: str = BOUND
    classes: dict[str, ClassFit] = Field(default_factory=dict)

    def qualified(self) -> frozenset[str]:
        """Classes that may auto-route (at their own threshold)."""
        return frozenset(label for label, fit in self.classes.items() if fit.threshold is not None)

    def routes(self) -> dict[str, float | None]:
        """label -> its route threshold (None: held back); a class absent keeps the default."""
        return {
            label: fit.threshold
            for label, fit in self.classes.items()
            if fit.reviewed >= self.min_reviews
        }

    def status(self, label: str) -> str:
        """How far ``label`` is from switching on, in words for `triage report bands`."""
        fit = self.classes.get(label)
        if fit is None or fit.reviewed < self.min_reviews:
            missing = self.min_reviews - (fit.reviewed if fit else 0)
            return f"needs {missing} more reviews (default threshold meanwhile)"
        if fit.threshold is not None:
            return f"on at {fit.threshold:.2f}"
        return (
            f"held back: best bound {fit.lower_bound:.3f} < target {self.target:.2f} "
            "at every threshold"
        )


def fit_route_thresholds(
    grid: Sequence[float],
    counts: Mapping[str, Sequence[tuple[int, int]]],
    *,
    target: float,
    min_reviews: int,
    confidence: float = 0.95,
    model_version: str | None = None,
) -> FittedThresholds:
    """The fit described in the module doc. ``grid`` is ascending and starts at 0.0 (the review
    count); ``counts[label][i]`` is (reviewed, correct) among that class's reviewed decisions
    with confidence >= ``grid[i]``. Pure: the store counts, this decides."""
    if not grid or grid[0] != 0.0 or list(grid) != sorted(grid):
        raise ModelError(f"threshold grid {list(grid)[:5]}... must ascend from 0.0")
    classes = {
        label: _fit_class(grid, rows, target, min_reviews, confidence)
        for label, rows in sorted(counts.items())
    }
    content = json.dumps(
        {k: v.model_dump() for k, v in classes.items()} | {"_": [target, min_reviews, confidence]},
        sort_keys=True,
    )
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:10]
    return FittedThresholds(
        version=f"ts-{digest}",
        model_version=model_version,
        fitted_at=datetime.now(UTC),
        target=target,
        min_reviews=min_reviews,
        confidence=confidence,
        classes=classes,
    )


def _fit_class(
    grid: Sequence[float],
    rows: Sequence[tuple[int, int]],
    target: float,
    min_reviews: int,
    confidence: float,
) -> ClassFit:
    reviewed = rows[0][0]
    best: tuple[float, int, int] = (0.0, 0, 0)
    for threshold, (n, k) in zip(grid[1:], rows[1:], strict=True):
        bound = wilson_lower_bound(k, n, confidence)
        if reviewed >= min_reviews and bound >= target:
            return ClassFit(
                reviewed=reviewed,
                threshold=threshold,
                routed_reviewed=n,
                routed_correct=k,
                lower_bound=round(bound, 4),
            )
        best = max(best, (bound, n, k))
    return ClassFit(
        reviewed=reviewed,
        routed_reviewed=best[1],
        routed_correct=best[2],
        lower_bound=round(best[0], 4),
    )


def write_fitted(model_dir: Path, fitted: FittedThresholds) -> Path:
    """Atomically (a reader sees the old file or the new one, never half of one)."""
    path = model_dir / THRESHOLDS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(fitted.model_dump_json(indent=2) + "\n", "utf-8")
    tmp.replace(path)
    return path


def read_fitted(model_dir: Path) -> FittedThresholds | None:
    """The set next to the model in ``model_dir``; None when none was fitted yet."""
    path = model_dir / THRESHOLDS_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from exc
    try:
        return FittedThresholds.model_validate_json(text)
    except ValidationError as exc:
        raise ArtifactError(
            f"{path} is not a fitted threshold set ({exc.error_count()} errors: "
            f"{exc.errors()[0]['msg']}); run `triage thresholds fit` to write it again"
        ) from exc

"""Per-class route thresholds: the Wilson bound, the fit on hand-made counts, the band rule
that applies them (default for too few reviews, held back, shadow mode), and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.bands import ThresholdOverrides, Thresholds, ThresholdSet
from models.exceptions import ArtifactError
from models.threshold_set import (
    THRESHOLDS_FILE,
    FittedThresholds,
    candidate_thresholds,
    fit_route_thresholds,
    read_fitted,
    wilson_lower_bound,
    write_fitted,
)

GRID = [0.0, 0.6, 0.7, 0.8, 0.9]


def test_wilson_lower_bound_known_values() -> None:
    assert wilson_lower_bound(20, 20) == pytest.approx(0.8809, abs=1e-4)
    assert wilson_lower_bound(95, 100) == pytest.approx(0.9008, abs=1e-4)
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(100, 100, 0.99) < wilson_lower_bound(100, 100, 0.95)


def test_candidate_grid_starts_at_the_review_count_then_the_floor() -> None:
    grid = candidate_thresholds(0.6)
    assert grid[:3] == [0.0, 0.6, 0.61]
    assert grid[-1] == 0.99
    assert len(grid) == 41


def fitted(min_reviews: int = 100) -> FittedThresholds:
    """easy: 200 reviews, 174/180 from 0.6 (bound 0.937), perfect from 0.7; confused: 300,
    good only from 0.9; rare: 40, perfect; mixed: 150 reviews, never good enough."""
    counts = {
        "easy": [(200, 190), (180, 174), (160, 160), (120, 120), (80, 80)],
        "confused": [(300, 240), (260, 215), (220, 190), (180, 165), (150, 150)],
        "rare": [(40, 40), (40, 40), (38, 38), (30, 30), (20, 20)],
        "mixed": [(150, 120), (140, 115), (120, 100), (100, 85), (80, 70)],
    }
    return fit_route_thresholds(GRID, counts, target=0.95, min_reviews=min_reviews)


def test_fit_picks_each_class_its_lowest_threshold_whose_bound_meets_the_target() -> None:
    fit = fitted()
    assert fit.classes["easy"].threshold == 0.7  # 160/160: bound 0.983
    assert fit.classes["confused"].threshold == 0.9
    assert fit.classes["rare"].threshold is None
    assert fit.classes["mixed"].threshold is None
    assert fit.qualified() == {"easy", "confused"}
    assert fit.routes() == {"easy": 0.7, "confused": 0.9, "mixed": None}  # rare: too few
    assert fit.status("rare").startswith("needs 60 more reviews")
    assert fit.status("easy") == "on at 0.70"
    assert fit.status("mixed").startswith("held back")
    assert fit.classes["easy"].lower_bound >= 0.95
    assert fit.version == fitted().version, "the same evidence gives the same version"


def test_fit_lowest_threshold_checks_the_bound_at_each_step() -> None:
    # 178/180 at 0.6 is 0.989 but its bound 0.9645 also meets 0.95: the lowest such step wins
    assert wilson_lower_bound(178, 180) >= 0.95
    fit = fit_route_thresholds(
        GRID,
        {"easy": [(200, 190), (180, 178), (160, 160)] + [(1, 1)] * 2},
        target=0.95,
        min_reviews=100,
    )
    assert fit.classes["easy"].threshold == 0.6


def test_a_class_with_too_few_reviews_stays_on_the_default() -> None:
    """Done-when (issue 15.3): 40 perfect reviews are not enough with min 100, so "rare"
    routes only from the global 0.85, while "easy" routes from its own 0.70."""
    rule = ThresholdOverrides().resolve(None, fitted())
    assert rule.route_for("rare") == 0.85
    assert rule.band("rare", 0.80) == "shadow"
    assert rule.band("rare", 0.86) == "routed"
    assert rule.band("easy", 0.72) == "routed"
    assert rule.band("confused", 0.88) == "shadow"
    assert rule.band("mixed", 0.99) == "shadow", "enough reviews, never precise: held back"
    assert rule.would_route("mixed", 0.99)
    assert rule.band("unseen", 0.86) == "routed"
    # enough reviews is not enough: 40 of 40 has a bound of 0.937, under the target
    assert fitted(min_reviews=30).classes["rare"].threshold is None
    assert fitted(min_reviews=30).status("rare").startswith("held back")


def test_shadow_mode_routes_only_qualified_classes() -> None:
    nothing = ThresholdOverrides(shadow_mode=True).resolve(None, None)
    assert nothing.band("easy", 0.99) == "shadow"
    assert nothing.would_route("easy", 0.99)
    assert not nothing.would_route("easy", 0.70)
    assert nothing.id == "global+shadow"
    rule = ThresholdOverrides(shadow_mode=True).resolve(None, fitted())
    assert rule.band("easy", 0.75) == "routed"
    assert rule.band("rare", 0.99) == "shadow"
    assert rule.band("unseen", 0.99) == "shadow"
    assert rule.band("easy", 0.99, novel=True) == "manual"
    assert rule.id == f"{fitted().version}+shadow"


def test_per_class_off_keeps_the_global_rule() -> None:
    rule = ThresholdOverrides(per_class=False).resolve(None, fitted())
    assert rule == ThresholdSet(Thresholds())
    assert rule.band("easy", 0.75) == "shadow"


def test_a_fitted_threshold_never_routes_below_the_shadow_threshold() -> None:
    rule = ThresholdSet(Thresholds(0.9, 0.7), {"easy": 0.6})
    assert rule.route_for("easy") == 0.7
    assert rule.band("easy", 0.65) == "manual"


def test_the_file_round_trips_and_a_broken_one_names_the_fix(tmp_path: Path) -> None:
    assert read_fitted(tmp_path) is None
    write_fitted(tmp_path, fitted())
    assert read_fitted(tmp_path) == fitted().model_copy(
        update={"fitted_at": read_fitted(tmp_path).fitted_at}  # type: ignore[union-attr]
    )
    (tmp_path / THRESHOLDS_FILE).write_text('{"version": 1}')
    with pytest.raises(ArtifactError, match="triage thresholds fit"):
        read_fitted(tmp_path)

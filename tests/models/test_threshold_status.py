"""The per-class status the dashboard and `triage report bands` show (issue 15, point 4), and
its staleness under drift (point 5), on review counts shaped like the store's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.threshold_set import write_fitted
from models.threshold_status import ThresholdPolicy, review_status
from tests.fixtures.drift import drift_summary


@dataclass(frozen=True)
class Point:
    reviewed: int
    correct: int


@dataclass(frozen=True)
class Curve:
    """What ``store.PrecisionCurve`` holds: per class, (reviewed, correct) at each threshold."""

    thresholds: tuple[float, ...]
    per_class: dict[str, tuple[Point, ...]]


def curve_at(grid: list[float]) -> Curve:
    """cards: 150 reviews, all right from 0.70 up; fx: 150 half right at every threshold;
    top_up: 10 reviews."""

    def row(reviewed: int, correct: int, right_from: float | None = None) -> tuple[Point, ...]:
        if right_from is None:
            return tuple(Point(reviewed, correct) for _ in grid)
        return tuple(Point(reviewed, correct) if t < right_from else Point(100, 100) for t in grid)

    return Curve(
        tuple(grid),
        {"cards": row(150, 120, 0.7), "fx": row(150, 75), "top_up": row(10, 10)},
    )


def test_review_status_says_per_class_how_far_and_stale_only_for_its_own_version(
    tmp_path: Path,
) -> None:
    """The dashboard's and `triage report bands`' table: on / held back / needs reviews; a
    service without the learner's policy judges by the set in force; a drifted worker of
    another model version does not make this one's set stale."""
    board = [drift_summary("a", "v1", "stable"), drift_summary("b", "v0", "drifted")]
    status, fitted = review_status(curve_at, tmp_path, "v1", ThresholdPolicy(), board)
    rows = {c.label: (c.state, c.reviews_needed, c.threshold) for c in status.classes}
    assert rows == {
        "cards": ("on", 0, 0.7),
        "fx": ("held_back", 0, None),
        "top_up": ("needs_reviews", 90, None),
    }
    assert status.classes[0].would_route_precision == 1.0
    assert (status.in_force, status.refit_version, status.stale) == (None, fitted.version, False)

    write_fitted(tmp_path, fitted.model_copy(update={"min_reviews": 200}))
    board.append(drift_summary("c", "v1", "drifted"))
    in_force, _ = review_status(curve_at, tmp_path, "v1", drift=board)
    assert in_force.min_reviews == 200, "no policy given: the one in force"
    assert {c.state for c in in_force.classes} == {"needs_reviews"}
    assert (in_force.stale, in_force.drifted_workers) == (True, ["c"])

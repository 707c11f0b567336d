"""Band precision on a hand-made set whose numbers are worked out in the comments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import Correction
from store import CorrectionOutcome, ReportError, Store
from store.precision import BandRow, band_precision, parse_window, render_band_report, summarize
from tests.learner.events import LABELS, T0, correction, decision


def accept(store: Store, event: Correction) -> None:
    assert store.add_correction(event, LABELS) is CorrectionOutcome.stored


def test_parse_window() -> None:
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("30m") == timedelta(minutes=30)
    for bad in ("", "24", "0h", "1y", "-3d"):
        with pytest.raises(ReportError, match="not understood"):
            parse_window(bad)


def test_summarize_flags_routed_below_target() -> None:
    report = summarize(
        [BandRow("routed", "cards", 10, 9), BandRow("routed", "loans", 10, 10)], target=0.96
    )
    assert report.bands["routed"].precision == pytest.approx(0.95)
    assert report.routed_below_target
    assert report.bands["shadow"].precision is None
    assert "ALERT" in render_band_report(report)


def test_band_precision_per_band_and_class(store: Store) -> None:
    # routed: 4 reviewed: r1 confirm, r2 override to same label (still correct), r3 override
    # (wrong), r4 first overridden by ana then confirmed by bo later -> latest = correct.
    # -> routed 3/4; cards 2/2, loans 1/2. r5 routed but not reviewed: not counted.
    store.add_decision(decision("r1", "cards", band="routed"))
    store.add_decision(decision("r2", "cards", band="routed"))
    store.add_decision(decision("r3", "loans", band="routed"))
    store.add_decision(decision("r4", "loans", band="routed"))
    store.add_decision(decision("r5", "loans", band="routed"))
    accept(store, correction("r1", "cards", action="confirm"))
    accept(store, correction("r2", "cards", action="override"))
    accept(store, correction("r3", "accounts"))
    accept(store, correction("r4", "cards", minutes=60))
    accept(store, correction("r4", "loans", action="confirm", reviewer="bo", minutes=90))
    # shadow: s1 wrong, s2 right -> 1/2. manual: m1 decided long before the window -> excluded.
    store.add_decision(decision("s1", "cards", band="shadow", minutes=10))
    store.add_decision(decision("s2", "transfers", band="shadow", minutes=10))
    store.add_decision(decision("m1", "cards", band="manual", minutes=-600))
    accept(store, correction("s1", "loans"))
    accept(store, correction("s2", "transfers", action="confirm"))
    accept(store, correction("m1", "loans"))

    report = band_precision(store, since=T0 - timedelta(hours=1))
    assert report.as_dict()["bands"] == {
        "routed": {"reviewed": 4, "correct": 3, "precision": 0.75},
        "shadow": {"reviewed": 2, "correct": 1, "precision": 0.5},
        "manual": {"reviewed": 0, "correct": 0, "precision": None},
    }
    routed = report.per_class["routed"]
    assert (routed["cards"].reviewed, routed["cards"].correct) == (2, 2)
    assert (routed["loans"].reviewed, routed["loans"].correct) == (2, 1)
    assert report.routed_below_target

    everything = band_precision(store)
    assert everything.bands["manual"].reviewed == 1
    assert everything.bands["manual"].correct == 0

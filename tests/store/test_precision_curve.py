"""Routed precision at any route threshold, per class, on a hand-made set worked out below."""

from __future__ import annotations

import pytest

from schemas.events import Correction
from store import CorrectionOutcome, ReportError, Store
from tests.learner.events import LABELS, correction, decision


def accept(store: Store, event: Correction) -> None:
    assert store.add_correction(event, LABELS) is CorrectionOutcome.stored


def test_precision_curve_per_class_and_overall(store: Store) -> None:
    # v1, reviewed: cards 0.95 right, cards 0.80 wrong, cards 0.70 overridden then confirmed
    # (latest: right), loans 0.90 wrong; a novel 0.99 cards (never routed) and an unreviewed
    # 0.97 cards do not count; v2's decision counts only for v2 (and for every version).
    store.add_decision(decision("a", "cards", p1=0.95))
    store.add_decision(decision("b", "cards", p1=0.80))
    store.add_decision(decision("c", "cards", p1=0.70))
    store.add_decision(decision("d", "loans", p1=0.90))
    store.add_decision(decision("e", "cards", p1=0.99).model_copy(update={"novel": True}))
    store.add_decision(decision("f", "cards", p1=0.97))
    store.add_decision(decision("g", "cards", p1=0.85, model_version="v2"))
    accept(store, correction("a", "cards", action="confirm"))
    accept(store, correction("b", "loans"))
    accept(store, correction("c", "loans", minutes=60))
    accept(store, correction("c", "cards", action="confirm", reviewer="bo", minutes=90))
    accept(store, correction("d", "cards"))
    accept(store, correction("e", "cards", action="confirm"))
    accept(store, correction("g", "accounts"))

    curve = store.precision_curve([0.9, 0.75, 0.6, 0.75], model_version="v1")
    assert curve.thresholds == (0.6, 0.75, 0.9)
    counts = {
        label: [(p.reviewed, p.correct) for p in row] for label, row in curve.per_class.items()
    }
    assert counts == {"cards": [(3, 2), (2, 1), (1, 1)], "loans": [(1, 0), (1, 0), (1, 0)]}
    assert [(p.reviewed, p.correct) for p in curve.overall] == [(4, 2), (3, 1), (2, 1)]
    at = curve.at(0.75, "cards")
    assert at is not None
    assert at.precision == 0.5
    assert curve.at(0.8, "cards") is None  # not asked for
    assert curve.at(0.9, "accounts") is None  # nobody reviewed one

    every = store.precision_curve([0.85])
    assert [(p.reviewed, p.correct) for p in every.per_class["cards"]] == [(2, 1)]
    assert store.precision_curve([0.5], model_version="v9").overall[0].precision is None


def test_precision_curve_refuses_unusable_thresholds(store: Store) -> None:
    for bad in ([], [1.5], [-0.1]):
        with pytest.raises(ReportError, match="between 0 and 1"):
            store.precision_curve(bad)

"""Uncertainty order: the pure ordering rule, then the SQL reading it on both backends."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from store import QueueError, Store, queue
from store.queue import QueueItem, prioritize, top_two_margin
from tests.learner.events import LABELS, T0, correction, decision


def item(ticket_id: str, label: str, margin: float, minutes: int = 0) -> QueueItem:
    return QueueItem(
        ticket_id=ticket_id,
        label=label,
        confidence=0.5,
        margin=margin,
        band="manual",
        model_version="v1",
        decided_at=T0 + timedelta(minutes=minutes),
        text="",
        top_k=[],
    )


def test_margin_is_top_two_gap_and_pessimistic_without_a_runner_up() -> None:
    assert top_two_margin([0.2, 0.7, 0.1], 0.7) == pytest.approx(0.5)
    assert top_two_margin([0.9], 0.9) == pytest.approx(0.8)
    assert top_two_margin([], 0.55) == pytest.approx(0.1)


def test_prioritize_orders_by_margin_and_caps_each_label() -> None:
    items = [
        item("a1", "a", 0.01),
        item("a2", "a", 0.02),
        item("a3", "a", 0.03),
        item("b1", "b", 0.30),
        item("c1", "c", 0.50),
    ]
    page = prioritize(items, 4, per_label_cap=2)
    assert [i.ticket_id for i in page] == ["a1", "a2", "b1", "c1"]


def test_prioritize_fills_a_short_page_with_the_rest_in_margin_order() -> None:
    items = [
        item("a1", "a", 0.01),
        item("a2", "a", 0.02),
        item("a3", "a", 0.03),
        item("b1", "b", 0.9),
    ]
    page = prioritize(items, 4, per_label_cap=1)
    assert [i.ticket_id for i in page] == ["a1", "b1", "a2", "a3"]


def test_prioritize_breaks_ties_by_age_then_id() -> None:
    items = [item("z", "a", 0.1, minutes=1), item("y", "b", 0.1, minutes=0), item("x", "c", 0.1, 1)]
    assert [i.ticket_id for i in prioritize(items, 3, per_label_cap=5)] == ["y", "x", "z"]


def test_query_returns_unreviewed_shadow_and_manual_by_margin(store: Store) -> None:
    store.add_decision(decision("routed", p1=0.51, p2=0.49, band="routed"))
    store.add_decision(decision("reviewed", p1=0.5, p2=0.49, band="manual"))
    store.add_correction(correction("reviewed", "loans"), LABELS)
    store.add_decision(decision("s-wide", p1=0.8, p2=0.1, band="shadow"))
    store.add_decision(decision("m-close", p1=0.4, p2=0.35, band="manual"))
    store.add_decision(decision("s-mid", p1=0.6, p2=0.3, band="shadow"))

    page = queue.query(store, 10)
    assert [i.ticket_id for i in page] == ["m-close", "s-mid", "s-wide"]
    assert page[0].margin == pytest.approx(0.05)
    assert page[0].text == "help\nmy card was declined"


def test_query_filters_by_band_label_and_model_version(store: Store) -> None:
    store.add_decision(decision("a", "cards", band="shadow", model_version="v1"))
    store.add_decision(decision("b", "loans", band="manual", model_version="v1"))
    store.add_decision(decision("c", "cards", band="manual", model_version="v2"))
    assert {i.ticket_id for i in queue.query(store, 10, band="manual")} == {"b", "c"}
    assert {i.ticket_id for i in queue.query(store, 10, label="cards")} == {"a", "c"}
    assert {i.ticket_id for i in queue.query(store, 10, model_version="v2")} == {"c"}
    with pytest.raises(QueueError, match="routed"):
        queue.query(store, 10, band="routed")


def test_query_in_sql_agrees_with_the_pure_rule_on_a_random_table(store: Store) -> None:
    """The bounded SQL candidate set must never change the answer prioritize gives on all rows."""
    rng = random.Random(7)
    weights = [0.7, 0.1, 0.1, 0.1]  # one label dominates the low margins
    for i in range(60):
        label = rng.choices(LABELS, weights)[0]
        p1 = rng.uniform(0.3, 0.84)
        store.add_decision(
            decision(f"t{i:02d}", label, p1=p1, p2=rng.uniform(0.0, 1 - p1), minutes=i)
        )
    everything = queue.query(store, 1000, per_label_cap=1000)
    assert len(everything) == 60
    for n, cap in [(5, 1), (10, 2), (25, 3), (60, 4)]:
        got = queue.query(store, n, per_label_cap=cap)
        assert [i.ticket_id for i in got] == [
            i.ticket_id for i in prioritize(everything, n, per_label_cap=cap)
        ]

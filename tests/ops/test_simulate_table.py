"""The simulation's report table."""

from __future__ import annotations

import pytest

from ops.simulate_table import (
    ClassRow,
    MatchedGlobal,
    Row,
    SimulationResult,
    class_rows,
    matched_global,
    render,
    switched_on,
)
from store import Store
from tests.learner.events import decision


def test_corrections_to_reach_counts_deployed_rows_only() -> None:
    result = SimulationResult(
        rows=[
            Row("v0", 0, 0.80, None, True),
            Row("v1", 100, 0.97, False, False),
            Row("v2", 200, 0.96, True, True),
        ],
        reference_macro_f1=1.0,
    )
    assert result.corrections_to_reach(0.95) == 200
    assert "reached after 200 corrections" in render(result)


def test_render_marks_the_starter_ungated_and_a_failed_gate() -> None:
    result = SimulationResult(
        rows=[Row("v0", 0, 0.8, None, True), Row("v1", 50, 0.7, False, False)]
    )
    lines = render(result).splitlines()
    assert lines[1].split()[-2:] == ["-", "yes"]
    assert lines[2].split()[-2:] == ["FAIL", "no"]
    assert len(lines) == 3


def test_class_rows_count_routed_share_and_precision_against_the_truth(store: Store) -> None:
    for ticket_id, label, band in [
        ("sim-0", "cards", "shadow"),
        ("sim-1", "cards", "routed"),
        ("sim-2", "cards", "routed"),
        ("sim-4", "cards", "shadow"),
        ("sim-3", "loans", "manual"),
        ("other", "loans", "routed"),  # not the stream's: left out
    ]:
        store.add_decision(decision(ticket_id, label, band=band))
    truth = {f"sim-{i}": label for i, label in enumerate(["cards", "loans", "cards", "loans"])}
    truth["sim-4"] = "cards"
    decided = store.decided_bands()
    rows = {row.label: row for row in class_rows(decided, truth, switched_on(decided, truth))}
    # cards switched on at sim-1: 3 decisions from there on, 2 routed
    assert rows["cards"] == ClassRow("cards", 4, 2, 1, decided_on=3)
    assert rows["cards"].share_on == pytest.approx(2 / 3)
    assert rows["cards"].precision == 0.5
    assert rows["loans"].precision is None
    assert rows["(all)"] == ClassRow("(all)", 5, 2, 1, decided_on=3)
    assert rows["(all)"].share == 0.4
    table = render(SimulationResult(rows=[], classes=list(rows.values())))
    cards = next(line for line in table.splitlines() if line.startswith("cards"))
    assert cards.split() == ["cards", "4", "2", "0.500", "0.5000", "3", "0.667"]


def test_matched_global_finds_the_lowest_threshold_as_precise_as_the_run(store: Store) -> None:
    # confidence -> right? : 0.95 right, 0.90 right, 0.80 wrong, 0.70 right, 0.65 right
    planted = [(0.95, True), (0.90, True), (0.80, False), (0.70, True), (0.65, True)]
    truth = {}
    for i, (confidence, right) in enumerate(planted):
        store.add_decision(decision(f"sim-{i}", "cards", p1=confidence, p2=0.01, band="shadow"))
        truth[f"sim-{i}"] = "cards" if right else "loans"
    store.add_decision(decision("other", "cards", p1=0.99, p2=0.0))  # not the stream's
    # precision 1.0 needs 0.81 (two of five routed); 0.8 is reached at 0.65 (four of five right)
    decided = store.decided_bands()
    assert matched_global(decided, truth, 1.0) == MatchedGlobal(1.0, 0.81, 0.4)
    assert matched_global(decided, truth, 0.8) == MatchedGlobal(0.8, 0.5, 1.0)
    line = MatchedGlobal(1.0, 0.81, 0.4).render(run_share=0.6)
    assert "0.81, routing 40.0% of decisions (this run: 60.0%)" in line
    assert "no global threshold" in MatchedGlobal(1.0, None, 0.0).render(0.5)


def test_switched_on_keeps_each_class_from_its_first_routed_decision(store: Store) -> None:
    bands = [("cards", "shadow"), ("loans", "shadow"), ("cards", "routed"), ("loans", "shadow")]
    truth = {}
    for i, (label, band) in enumerate([*bands, ("cards", "shadow")]):
        store.add_decision(decision(f"sim-{i}", label, band=band))
        truth[f"sim-{i}"] = label
    assert switched_on(store.decided_bands(), truth) == {"sim-2", "sim-4"}

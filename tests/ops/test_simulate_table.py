"""The simulation's report table."""

from __future__ import annotations

import pytest

from ops.simulate_table import ClassRow, Row, SimulationResult, class_rows, render
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
    rows = {row.label: row for row in class_rows(store, truth)}
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

"""The simulation's report table."""

from __future__ import annotations

from ops.simulate_table import Row, SimulationResult, render


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

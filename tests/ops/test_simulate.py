"""The simulation: its pure parts, and one short run of the whole loop on the live stack."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from models.data import LabelledData
from ops.simulate import (
    Row,
    SimulationConfig,
    SimulationError,
    SimulationResult,
    apply_label_map,
    render,
    simulate,
    stratified,
)


def test_stratified_keeps_every_class_and_every_row() -> None:
    data = LabelledData([f"t{i}" for i in range(100)], ["a"] * 90 + ["b"] * 10, "x")
    part, rest = stratified(data, 0.1, random.Random(1))
    assert sorted(part.labels) == ["a"] * 9 + ["b"]
    assert sorted(part.texts + rest.texts) == sorted(data.texts)


def test_label_map_both_forms_and_unmapped(tmp_path: Path) -> None:
    data = LabelledData(["1", "2"], ["x", "y"], "d")
    grouped = tmp_path / "g.json"
    grouped.write_text(json.dumps({"teams": {"A": ["x", "y"]}}))
    assert apply_label_map(data, grouped).labels == ["A", "A"]
    flat = tmp_path / "f.json"
    flat.write_text(json.dumps({"x": "A"}))
    with pytest.raises(SimulationError, match="'y'"):
        apply_label_map(data, flat)


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


@pytest.mark.slow
@pytest.mark.integration
def test_one_round_of_the_live_loop(tmp_path: Path, sample_dir: Path) -> None:
    config = SimulationConfig(
        data=sample_dir / "banking77_train.csv",
        text_col="text",
        label_col="team",
        seed_fraction=0.1,
        test_fraction=0.2,
        retrain_after=50,
        backend="tfidf",
        work_dir=tmp_path,
        max_rounds=1,
        chunk=300,
    )
    result = simulate(config, progress=lambda _line: None)
    assert len(result.rows) == 2
    starter, retrained = result.rows
    assert starter.deployed
    assert starter.corrections_used == 0
    assert retrained.corrections_used == 50
    assert retrained.deployed == retrained.gates_passed
    assert result.reference_macro_f1 is not None

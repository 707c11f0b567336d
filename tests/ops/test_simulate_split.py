"""The simulation's cut of a labelled file, and the label map that coarsens its labels."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from models.data import LabelledData
from ops.exceptions import SimulationError
from ops.simulate_split import apply_label_map, split_for_simulation, stratified


def test_stratified_keeps_every_class_and_every_row() -> None:
    data = LabelledData([f"t{i}" for i in range(100)], ["a"] * 90 + ["b"] * 10, "x")
    part, rest = stratified(data, 0.1, random.Random(1))
    assert sorted(part.labels) == ["a"] * 9 + ["b"]
    assert sorted(part.texts + rest.texts) == sorted(data.texts)


def test_split_parts_are_disjoint_and_the_pool_is_seed_plus_stream() -> None:
    data = LabelledData([f"t{i}" for i in range(200)], ["a", "b", "c", "d"] * 50, "x")
    split = split_for_simulation(data, 0.2, 0.1, random.Random(13))
    assert split.labels == ["a", "b", "c", "d"]
    assert not set(split.test.texts) & set(split.pool.texts)
    assert sorted(split.seed.texts + split.stream.texts) == sorted(split.pool.texts)
    assert len(split.test) == 40
    again = split_for_simulation(data, 0.2, 0.1, random.Random(13))
    assert again.stream.texts == split.stream.texts


def test_label_map_both_forms_and_unmapped(tmp_path: Path) -> None:
    data = LabelledData(["1", "2"], ["x", "y"], "d")
    grouped = tmp_path / "g.json"
    grouped.write_text(json.dumps({"teams": {"A": ["x", "y"]}}))
    assert apply_label_map(data, grouped).labels == ["A", "A"]
    flat = tmp_path / "f.json"
    flat.write_text(json.dumps({"x": "A"}))
    with pytest.raises(SimulationError, match="'y'"):
        apply_label_map(data, flat)

"""One short run of the whole simulated loop on the live stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.simulate import SimulationConfig, simulate


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

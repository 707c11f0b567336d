"""Short runs of the whole simulated loop on the live stack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ops.simulate import SimulationConfig, simulate
from ops.simulate_table import render


def sample_config(data_dir: Path, work_dir: Path, **overrides: Any) -> SimulationConfig:
    """The sample's teams on TF-IDF, 50 corrections a round, one round."""
    settings: dict[str, Any] = {
        "text_col": "text",
        "label_col": "team",
        "seed_fraction": 0.1,
        "test_fraction": 0.2,
        "retrain_after": 50,
        "backend": "tfidf",
        "max_rounds": 1,
        "chunk": 300,
    }
    settings.update(overrides)
    return SimulationConfig(data=data_dir / "banking77_train.csv", work_dir=work_dir, **settings)


@pytest.mark.slow
@pytest.mark.integration
def test_one_round_of_the_live_loop(tmp_path: Path, sample_dir: Path) -> None:
    result = simulate(sample_config(sample_dir, tmp_path), progress=lambda _line: None)
    assert len(result.rows) == 2
    starter, retrained = result.rows
    assert starter.deployed
    assert starter.corrections_used == 0
    assert retrained.corrections_used == 50
    assert retrained.deployed == retrained.gates_passed
    assert result.reference_macro_f1 is not None


@pytest.mark.slow
@pytest.mark.integration
def test_the_same_seed_gives_the_same_table(tmp_path: Path, sample_dir: Path) -> None:
    """Three rounds over several chunks (so a chunk follows a deployment), twice: the rows
    and the reference agree, and each model's version differs only in when it was trained."""

    def table(work_dir: Path) -> list[str]:
        config = sample_config(sample_dir, work_dir, retrain_after=30, max_rounds=3, chunk=100)
        result = simulate(config, progress=lambda _line: None)
        assert len(result.rows) == 4
        # a version is <trained at>-<hash of the training data>: only the time may differ
        return [re.sub(r"^\d{8}-\d{6}-", "", line) for line in render(result).splitlines()]

    assert table(tmp_path / "first") == table(tmp_path / "second")


@pytest.mark.slow
@pytest.mark.integration
def test_a_poisoner_is_flagged_and_trains_no_deployed_model(
    tmp_path: Path, sample_dir: Path
) -> None:
    """One reviewer sends a wrong label on every third reviewed ticket: the held ones are
    overturned, the poisoner is flagged, no deployed model's run holds a poisoned correction
    (from the first overturn its corrections wait for a second reviewer), and honest
    corrections still deploy."""
    config = sample_config(
        sample_dir, tmp_path, seed_fraction=0.4, retrain_after=30, max_rounds=3, poison=24
    )
    result = simulate(config, progress=lambda _line: None)
    poison = result.poison
    assert poison is not None, render(result)
    assert poison.sent == 24
    assert poison.flagged("poisoner")
    assert not poison.flagged("simulated")
    assert poison.statuses.get("active", 0) == 0
    after = [run for run in poison.runs if run.after_flag]
    assert after, render(result)
    assert all(run.poisoned == 0 for run in after)
    deployed = [run for run in poison.runs if run.outcome == "deployed"]
    assert deployed, render(result)
    assert all(run.poisoned == 0 for run in deployed), render(result)
    assert any(run.outcome == "deployed" for run in after)
    assert "poisoner: 24 wrong labels sent" in render(result)

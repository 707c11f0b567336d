"""`triage data inspect` through the real `triage` command group."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from models.data_cli import EXIT_SEVERE
from models.exceptions import DataError
from ops.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["data", "inspect", *args])
    return result.exit_code, result.stdout, result.stderr


def test_inspect_prints_a_table_for_the_sample(sample_dir: Path) -> None:
    code, out, _ = run(str(sample_dir / "banking77_train.csv"), "--label-col", "team")
    assert code == 0
    assert "1,400 rows in, 1,400 rows out" in out
    assert "account_security" in out
    assert "normalised by ln(7): 1.000 -> healthy" in out


def test_inspect_json(sample_dir: Path) -> None:
    code, out, _ = run(str(sample_dir / "banking77_train.csv"), "--label-col", "team", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["rows_in"] == 1400
    assert report["verdict"] == "healthy"
    assert len(report["class_counts"]) == 7


def test_inspect_severe_imbalance_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "skewed.csv"
    rows = [f"ticket number {i} about cards,cards" for i in range(95)]
    rows += [f"question {i} on fx,fx" for i in range(2)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    code, out, err = run(str(path))
    assert code == EXIT_SEVERE
    assert "-> severe" in out
    assert "training would refuse it unless --force" in err


def test_inspect_with_config_applies_synonyms(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("text,label\nlost card,Cards\nsend money,wire\nwhere is my wire,transfers\n")
    config = tmp_path / "health.json"
    config.write_text(json.dumps({"synonyms": {"wire": "transfers"}, "min_class_count": 1}))
    code, out, _ = run(str(data), "--config", str(config), "--json")
    assert code == 0
    assert json.loads(out)["class_counts"] == {"transfers": 2, "cards": 1}


def test_inspect_missing_column_is_a_data_error(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("body,label\nlost card,cards\n")
    result = CliRunner().invoke(cli, ["data", "inspect", str(data)])
    assert isinstance(result.exception, DataError)  # `triage` turns it into "error: ..." + exit 2
    assert "no column 'text'; columns found: 'body', 'label'" in str(result.exception)

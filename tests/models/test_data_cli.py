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


# -- `triage data augment --fill / --from-cluster` and `triage data synthetic` ---------------
def skewed_csv(path: Path) -> Path:
    rows = [f"my card {i} was declined. it happened again today {i}.,cards,{i}" for i in range(40)]
    rows += [f"the fx rate {i} was wrong. i lost money {i}.,fx,{40 + i}" for i in range(5)]
    names = ("alpha", "bravo", "charlie", "delta", "echo")
    rows += [f"where is loan {n}. nobody answers {i}.,loans,{45 + i}" for i, n in enumerate(names)]
    path.write_text("text,label,id\n" + "\n".join(rows) + "\n")
    return path


def augment(*args: str) -> tuple[int, str]:
    """Exit code, and the output or (an error `triage` turns into "error: ...") the exception."""
    result = CliRunner().invoke(cli, ["data", "augment", *args])
    return result.exit_code, result.output or str(result.exception)


def test_augment_fill_marks_each_generated_row_and_synthetic_lists_them(tmp_path: Path) -> None:
    import csv

    src, out = skewed_csv(tmp_path / "in.csv"), tmp_path / "out.csv"
    code, output = augment(str(src), "--fill", "--out", str(out))
    assert code == 0, output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    real, made = rows[:50], rows[50:]
    assert all(r["synthetic"] == "" for r in real)
    assert {r["label"] for r in made} == {"fx", "loans"}
    assert {r["synthetic"] for r in made} <= {"recombine", "noise", "oversample"}
    for r in made:  # a generated row keeps its first source row's other columns
        first = int(r["synthetic_source"].split("+")[0])
        assert r["id"] == real[first - 1]["id"]
    code = CliRunner().invoke(cli, ["data", "synthetic", str(out), "--json"])
    listed = json.loads(code.output)
    assert [x["row"] for x in listed] == list(range(51, 51 + len(made)))
    text = CliRunner().invoke(cli, ["data", "synthetic", str(out)]).output
    assert f"{len(made)} generated rows" in text


def test_from_cluster_seeds_rows_from_the_named_cluster_only(tmp_path: Path) -> None:
    src, out = skewed_csv(tmp_path / "in.csv"), tmp_path / "out.jsonl"
    report = tmp_path / "report"
    report.mkdir()

    def cluster(number: int, true: str, text: str) -> dict[str, object]:
        return {
            "id": number,
            "size": 3,
            "mix": [{"true": true, "predicted": "cards", "count": 3}],
            "representative": {"text": text, "true": true, "predicted": "cards"},
        }

    clusters = [
        cluster(0, "fx", "the fx rate 2 was wrong"),
        cluster(1, "loans", "where is loan delta"),
    ]
    (report / "metrics.json").write_text(json.dumps({"failure_clusters": clusters}))
    code, output = augment(
        str(src), "--from-cluster", "1", "--clusters", str(report), "--out", str(out)
    )
    assert code == 0, output
    made = [r for r in map(json.loads, out.read_text().splitlines()) if r["synthetic"]]
    assert len(made) == 3
    assert {r["label"] for r in made} == {"loans"}
    assert all(r["synthetic"] == "cluster" for r in made)
    assert all(r["synthetic_note"].startswith("cluster 1") for r in made)
    assert made[0]["id"] == "48"  # loan delta, nearest the representative
    code, output = augment(
        str(src), "--from-cluster", "7", "--clusters", str(report), "--out", str(out)
    )
    assert code != 0
    assert "no failure cluster 7" in output

"""`triage train / evaluate / predict` end to end on a tiny slice, and every refusal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from models.exceptions import DataError, ModelError
from ops.cli import cli
from tests.fixtures.models import read_sample


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def tiny_csv(tmp_path: Path, sample_dir: Path) -> Path:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    rows = [{"text": t, "label": label} for t, label in zip(texts[:140], labels[:140], strict=True)]
    return write_csv(tmp_path / "tiny.csv", rows)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


@pytest.mark.slow
def test_train_evaluate_predict(tiny_csv: Path, tmp_path: Path, sample_dir: Path) -> None:
    out = tmp_path / "model"
    lenient = tmp_path / "pack.json"
    lenient.write_text(
        json.dumps({"min_macro_f1": 0.1, "min_accuracy": 0.1, "min_per_class_f1": 0})
    )
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(tiny_csv),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--max-length",
            "32",
            "--eval-pack",
            str(lenient),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tf-idf" in result.output
    assert (out / "manifest.json").is_file()

    test_file = sample_dir / "banking77_test.csv"
    result = CliRunner().invoke(
        cli, ["evaluate", str(out), str(test_file), "--label-col", "team", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "per_class", "ece", "bands", "gates", "baseline"} <= set(report)
    assert set(report["bands"]) == {"routed", "shadow", "manual"}
    assert set(report["baseline"]) == {"accuracy", "macro_f1"}
    assert report["per_class"]["cards"]["support"] == 60

    result = CliRunner().invoke(cli, ["predict", str(out), "my card is lost", "top up failed"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 2
    assert {"label", "confidence", "band", "top_k", "novel"} <= set(lines[0])
    assert lines[0]["band"] in {"routed", "shadow", "manual"}


@pytest.mark.slow
def test_failed_gates_exit_with_the_class_named(tiny_csv: Path, tmp_path: Path) -> None:
    strict = tmp_path / "pack.json"
    strict.write_text(json.dumps({"min_per_class_f1": 1.0, "min_macro_f1": 0, "min_accuracy": 0}))
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(tiny_csv),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--max-length",
            "16",
            "--eval-pack",
            str(strict),
            "--device",
            "cpu",
        ],
    )
    assert isinstance(result.exception, ModelError)
    assert "min_per_class_f1" in str(result.exception)
    assert "failed on class" in str(result.exception)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gates"]["passed"] is False


def bad_inputs(tmp_path: Path, sample_dir: Path) -> dict[str, tuple[list[str], str]]:
    texts, _ = read_sample(sample_dir / "banking77_train.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    one = write_csv(tmp_path / "one.csv", [{"text": t, "label": "cards"} for t in texts[:30]])
    blanks = write_csv(
        tmp_path / "blanks.csv",
        [
            {"text": t, "label": "" if i in (3, 7) else f"team{i % 2}"}
            for i, t in enumerate(texts[:30])
        ],
    )
    severe = write_csv(
        tmp_path / "severe.csv",
        [{"text": t, "label": "rare" if i < 2 else "big"} for i, t in enumerate(texts[:400])],
    )
    good = write_csv(
        tmp_path / "good.csv", [{"text": t, "label": f"t{i % 2}"} for i, t in enumerate(texts[:30])]
    )
    return {
        "missing file": ([str(tmp_path / "nope.csv")], "does not exist"),
        "missing column": ([str(good), "--label-col", "team"], "columns found"),
        "empty file": ([str(empty)], "empty"),
        "single class": ([str(one)], "2 classes"),
        "blank labels": ([str(blanks)], "line"),
        "severe imbalance": ([str(severe)], "--force"),
        "bad eval pack": ([str(good), "--eval-pack", str(tmp_path / "nope.json")], "eval pack"),
        "bad config value": ([str(good), "--epochs", "0"], "epochs=0"),
    }


CASES = [
    "missing file",
    "missing column",
    "empty file",
    "single class",
    "blank labels",
    "severe imbalance",
    "bad eval pack",
    "bad config value",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_and_nothing_is_written(
    case: str, tmp_path: Path, sample_dir: Path
) -> None:
    args, message = bad_inputs(tmp_path, sample_dir)[case]
    out = tmp_path / "out"
    before = sorted(tmp_path.iterdir())
    result = invoke("train", *args, "--out", str(out))
    assert isinstance(result.exception, ModelError), result.output
    assert message in str(result.exception)
    assert not out.exists()
    assert sorted(tmp_path.iterdir()) == before


def test_existing_out_dir_is_refused(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("train", str(tiny_csv), "--out", str(out))
    assert isinstance(result.exception, ModelError)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_evaluate_and_predict_refuse_a_missing_model(tmp_path: Path, tiny_csv: Path) -> None:
    result = invoke("evaluate", str(tmp_path / "none"), str(tiny_csv))
    assert "does not exist" in str(result.exception)
    result = invoke("predict", str(tmp_path / "none"), "hello")
    assert "does not exist" in str(result.exception)


def test_evaluate_refuses_a_file_without_the_label_column(
    tfidf_model_dir: Path, tiny_csv: Path
) -> None:
    result = invoke("evaluate", str(tfidf_model_dir), str(tiny_csv), "--label-col", "team")
    assert isinstance(result.exception, DataError)


def test_evaluate_reads_labels_the_way_training_did(
    tfidf_model_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    """Regression: "Cards " in the scored file is the model's "cards", not an unknown label."""
    texts, labels = read_sample(sample_dir / "banking77_test.csv")
    path = tmp_path / "shouty.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows((t, f"{label.upper()} ") for t, label in zip(texts, labels, strict=True))
    result = CliRunner().invoke(
        cli, ["evaluate", str(tfidf_model_dir), str(path), "--label-col", "label", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unknown_labels"] == []
    assert report["accuracy"] > 0.8

"""Pseudo-labels (issue 16, point 4) on the TF-IDF backend: confident rows join training in
rounds, a round that does not raise validation is dropped, and no labelled row comes back as a
pseudo-labelled one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from models import pipeline
from models.artifact import read_manifest
from models.data import LabelledData, read_texts
from models.exceptions import DataError
from models.pseudo import PseudoConfig, self_train, usable
from models.tfidf import TfidfTrainer
from models.train_config import FitContext, Split, TrainConfig
from ops.cli import cli
from tests.fixtures.models import read_sample
from tests.models.test_pipeline import LENIENT


def parts(sample_dir: Path, n: int = 400) -> Split:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    test_texts, test_labels = read_sample(sample_dir / "banking77_test.csv")
    return Split(
        LabelledData(texts[:n], labels[:n], "train"),
        LabelledData(texts[n : n + 300], labels[n : n + 300], "val"),
        LabelledData(test_texts, test_labels, "test"),
    )


def fitted(split: Split) -> pipeline.Fitted:
    trainer = TfidfTrainer()
    out = trainer.fit(split, TrainConfig(), FitContext())
    trainer.calibrate(out)
    return out


def test_confident_unlabelled_rows_join_training_and_the_manifest_counts_them(
    sample_dir: Path, tmp_path: Path
) -> None:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    unlabelled = texts[300:]  # the rest of the sample, labels withheld
    request = pipeline.TrainRequest(
        data=LabelledData(texts[:300], labels[:300], "sample"),
        config=TrainConfig(pseudo_threshold=0.5, pseudo_rounds=2),
        pack=LENIENT,
        kind="tfidf",
        unlabelled=unlabelled,
    )
    shown: list[str] = []
    request.on_pseudo = shown.append

    result = pipeline.run(request, tmp_path / "model")

    report = read_manifest(tmp_path / "model").metrics["training"]["pseudo_labels"]
    added = sum(report["added"].values())
    assert report["unlabelled"] == len(set(unlabelled))
    first = report["rounds"][0]
    # 300 labels leave the model unsure: the confident half of the rest lifts validation
    assert first["kept"]
    assert first["val_macro_f1"] > report["val_macro_f1_before"]
    assert added >= sum(first["added"].values()) > 0
    assert result.record.rows["train_pseudo"] == added
    for r in report["rounds"]:
        assert set(r["check_precision"]) == set(r["added"])
        assert all(p is None or 0 <= p <= 1 for p in r["check_precision"].values())
    assert shown
    assert shown[0].startswith("pseudo-labels:")


def test_a_round_that_does_not_raise_validation_is_dropped(sample_dir: Path) -> None:
    split = parts(sample_dir)
    first = fitted(split)
    rounds: list[int] = []

    def worse(more: Split) -> pipeline.Fitted:
        # the pseudo-labels are kept, but every real label is moved to the next class
        rounds.append(len(more.train))
        names = sorted(set(more.train.labels))
        shifted = [names[(names.index(x) + 1) % len(names)] for x in more.train.labels]
        return fitted(
            Split(LabelledData(more.train.texts, shifted, "shifted"), more.val, more.test)
        )

    config = PseudoConfig(threshold=0.3, rounds=3)
    best, report = self_train(
        first, split, read_sample(sample_dir / "banking77_test.csv")[0], config, worse
    )

    assert best is first
    assert len(rounds) == 1, "the first round that does not rise ends self-training"
    assert report.rounds[0].kept is False
    assert report.rounds[0].val_macro_f1 < report.val_macro_f1_before
    assert report.added == {}
    assert best.record.rows["train_pseudo"] == 0


def test_labelled_rows_blanks_and_repeats_never_become_pseudo_labels(sample_dir: Path) -> None:
    split = parts(sample_dir)
    card = "my card 4111 1111 1111 1111 was charged twice"
    given = [split.train.texts[0], split.test.texts[3], "   ", card, card, "where is my refund?"]

    kept = usable(given, split)

    assert len(kept) == 2
    assert "4111 1111 1111 1111" not in kept[0]
    assert kept[1] == "where is my refund?"


def test_self_training_without_validation_rows_is_refused(sample_dir: Path) -> None:
    split = parts(sample_dir)
    bare = Split(split.train, LabelledData([], [], "none"), split.test)

    with pytest.raises(DataError, match="validation rows"):
        self_train(fitted(split), bare, ["a text"], PseudoConfig(0.9, 1), fitted)


def test_an_unlabelled_file_without_the_text_column_is_refused_before_training(
    tmp_path: Path, sample_dir: Path
) -> None:
    export = tmp_path / "unlabelled.csv"
    export.write_text("body\nmy card is lost\n")
    with pytest.raises(DataError, match="no column 'text'"):
        read_texts(export, "text")

    args = [
        str(sample_dir / "banking77_train.csv"),
        "--label-col",
        "team",
        "--out",
        str(tmp_path / "m"),
    ]
    result = CliRunner().invoke(cli, ["train", *args, "--unlabelled", str(export)])

    assert result.exit_code != 0
    assert "no column 'text'" in str(result.exception)
    assert not (tmp_path / "m").exists()

"""Noise augmentation: the noise functions, the pipeline's mix-in, `triage data augment` and
`triage evaluate --noisy` (TF-IDF and pure functions: seconds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from models import pipeline
from models.augment import KINDS, augment, noisy_test_copy, parse_kinds, with_augmented
from models.data import LabelledData
from models.exceptions import DataError, ModelError
from models.gates import EvalPack
from models.tfidf import TfidfTrainer
from models.train_config import FitContext, Fitted, Split, TrainConfig
from ops.cli import cli
from tests.fixtures.models import read_sample

WORD_KINDS = ("typos", "casing", "slang", "punctuation")  # keep the word count, unlike emotion
LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def sample(sample_dir: Path, n: int = 300) -> LabelledData:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    return LabelledData(texts[:n], labels[:n], "sample")


def changed_share(before: list[str], after: list[str]) -> float:
    pairs = [
        (a, b)
        for x, y in zip(before, after, strict=True)
        for a, b in zip(x.split(), y.split(), strict=False)
    ]
    return sum(a != b for a, b in pairs) / len(pairs)


def test_noise_is_deterministic_for_a_seed_and_differs_across_seeds(sample_dir: Path) -> None:
    data = sample(sample_dir)
    first, again = augment(data, KINDS, 0.2, seed=1), augment(data, KINDS, 0.2, seed=1)
    other = augment(data, KINDS, 0.2, seed=2)
    assert first.texts == again.texts
    assert first.texts != other.texts
    assert first.labels == data.labels
    assert first.source.startswith("synthetic: noise")


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_about_rate_of_the_words_change(sample_dir: Path, rate: float) -> None:
    data = sample(sample_dir)
    copies = augment(data, WORD_KINDS, rate, seed=3)
    assert all(
        len(a.split()) == len(b.split()) for a, b in zip(data.texts, copies.texts, strict=False)
    )
    assert changed_share(data.texts, copies.texts) == pytest.approx(rate, abs=0.05)


def test_each_kind_does_its_own_noise() -> None:
    text = "Please help, you know my account transfer did not arrive"
    data = LabelledData([text] * 20, ["x"] * 20, "t")
    slang = " ".join(augment(data, ["slang"], 1.0, seed=0).texts)
    assert {"pls", "u", "acct", "xfer", "kno"} <= set(slang.replace(",", "").split())
    cased = augment(data, ["casing"], 1.0, seed=0).texts
    assert all(c.lower() == text.lower() and c != text for c in cased)
    marks = augment(data, ["emotion"], 0.2, seed=0).texts
    assert all(len(m) > len(text) for m in marks)
    punct = augment(data, ["punctuation"], 1.0, seed=0).texts
    assert any("!!" in p or "??" in p or ".." in p for p in punct)
    typos = augment(data, ["typos"], 1.0, seed=0).texts
    assert all(t.lower() != text.lower() for t in typos)


def test_copies_are_marked_beside_the_originals(sample_dir: Path) -> None:
    data = sample(sample_dir, 50)
    mixed, flags = with_augmented(data, KINDS, 0.2, seed=0)
    assert mixed.texts[:50] == data.texts
    assert flags == [False] * 50 + [True] * 50


def test_bad_kinds_and_rates_name_the_value_and_the_allowed_ones() -> None:
    with pytest.raises(DataError, match=r"'typoz'.*typos.*casing"):
        parse_kinds("typos,typoz")
    data = LabelledData(["a b"], ["x"], "t")
    with pytest.raises(DataError, match=r"rate 1.5 is invalid.*0 < rate <= 1"):
        augment(data, ["typos"], 1.5, seed=0)
    with pytest.raises(ModelError, match=r"augment_noise=-0\.1"):
        TrainConfig(augment_noise=-0.1)


def test_pipeline_mixes_copies_into_train_only_and_counts_them(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Split] = []
    real_fit = TfidfTrainer.fit

    def spy(self: TfidfTrainer, parts: Split, config: TrainConfig, ctx: FitContext) -> Fitted:
        seen.append(parts)
        return real_fit(self, parts, config, ctx)

    monkeypatch.setattr(TfidfTrainer, "fit", spy)
    data = sample(sample_dir)
    request = pipeline.TrainRequest(
        data=data, config=TrainConfig(augment_noise=0.2), pack=LENIENT, kind="tfidf", health=None
    )
    result = pipeline.train(request)
    parts = seen[0]
    real = set(data.texts)
    test = result.split.test
    assert set(test.texts) <= real
    assert set(parts.test.texts) <= real
    assert set(parts.val.texts) <= real
    n_train = len(result.split.train)
    assert len(parts.train) == 2 * n_train
    assert result.record.rows["train_augmented"] == n_train
    assert sum(t not in real for t in parts.train.texts) > n_train // 2


def test_data_augment_writes_the_augmented_column(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text,label,id\nplease check my account,cards,1\nwhere is my money,fx,2\n")
    out = tmp_path / "out.csv"
    args = ["data", "augment", str(src), "--rate", "0.5", "--seed", "4", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["augmented"] for r in rows] == ["false", "false", "true", "true"]
    assert [r["id"] for r in rows] == ["1", "2", "1", "2"]
    assert rows[2]["text"] != rows[0]["text"]
    jsonl = tmp_path / "out.jsonl"
    CliRunner().invoke(cli, [*args[:-1], str(jsonl)])
    assert [json.loads(line)["augmented"] for line in jsonl.read_text().splitlines()] == [
        False,
        False,
        True,
        True,
    ]


def test_data_augment_refuses_an_unknown_kind(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text,label\na b,x\nc d,y\n")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        cli, ["data", "augment", str(src), "--noise", "shouting", "--out", str(out)]
    )
    assert isinstance(result.exception, DataError)
    assert "'shouting'" in str(result.exception)
    assert "typos" in str(result.exception)
    assert not out.exists()


def test_evaluate_noisy_prints_clean_noisy_and_the_gap(
    tfidf_model_dir: Path, sample_dir: Path
) -> None:
    test = sample_dir / "banking77_test.csv"
    base = ["evaluate", str(tfidf_model_dir), str(test), "--label-col", "team", "--noisy"]
    text = CliRunner().invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert "macro-F1 clean" in text.stdout
    assert "noisy" in text.stdout
    assert "gap" in text.stdout
    report: dict[str, Any] = json.loads(CliRunner().invoke(cli, [*base, "--json"]).stdout)
    figures = report["noisy"]
    assert figures["clean_macro_f1"] == round(report["macro_f1"], 4)
    assert figures["noisy_macro_f1"] < figures["clean_macro_f1"]
    gap = 100 * (figures["clean_macro_f1"] - figures["noisy_macro_f1"])
    assert figures["gap_points"] == pytest.approx(gap, abs=0.02)


def test_the_noisy_test_copy_is_fixed(sample_dir: Path) -> None:
    data = sample(sample_dir, 40)
    assert noisy_test_copy(data).texts == noisy_test_copy(data).texts
    assert noisy_test_copy(data).texts != data.texts

"""Label-issue detection: out-of-fold probabilities and confident learning on real tickets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models.base import FloatArray
from models.data import LabelledData, read_labelled
from models.exceptions import DataError
from models.label_issues import (
    find_label_issues,
    issues_from_probabilities,
    out_of_fold_probabilities,
)
from models.tfidf import TfidfClassifier
from ops.cli import cli


@pytest.fixture(scope="module")
def sample(sample_dir: Path) -> LabelledData:
    return read_labelled(sample_dir / "banking77_train.csv", "text", "team")


def flip(data: LabelledData, share: float, seed: int) -> tuple[LabelledData, set[int]]:
    rng = random.Random(seed)
    rows = set(rng.sample(range(len(data)), round(share * len(data))))
    labels = [
        rng.choice([c for c in data.classes if c != label]) if i in rows else label
        for i, label in enumerate(data.labels)
    ]
    return LabelledData(data.texts, labels, "flipped"), rows


@pytest.fixture(scope="module")
def noisy(sample: LabelledData) -> tuple[LabelledData, set[int], FloatArray, list[str]]:
    """The sample with 5 % of its labels flipped, and its out-of-fold probabilities (once)."""
    data, flipped = flip(sample, 0.05, seed=3)
    proba, classes = out_of_fold_probabilities(data)
    return data, flipped, proba, classes


def test_flipped_labels_are_found_and_few_clean_rows_are(
    noisy: tuple[LabelledData, set[int], FloatArray, list[str]],
) -> None:
    data, flipped, proba, classes = noisy
    report = issues_from_probabilities(data, proba, classes)
    found = {issue.row - 1 for issue in report.issues}
    hits = len(found & flipped)
    # 1,400 rows train a weaker model than the 10,000 of bench/label_issues.py: the bar here
    # shows the detection is far from chance (as many random rows would hold ~5 % flipped ones)
    assert hits / len(flipped) >= 0.6
    assert hits / len(found) >= 0.5
    first = report.issues[0]
    assert first.given == data.labels[first.row - 1]
    assert first.suggested != first.given
    assert first.given_probability < first.suggested_probability
    text = report.render(limit=3)
    assert f"label issues: {len(found)} of 1400 rows" in text
    assert f"row {first.row}: given {first.given!r} ({first.given_probability:.2f})" in text
    assert f"and {len(found) - 3} more (--json lists every one)" in text


def test_probabilities_are_out_of_fold(
    noisy: tuple[LabelledData, set[int], FloatArray, list[str]],
) -> None:
    """A model scored on its own rows agrees with a planted wrong label; out of fold it does
    not, which is the whole point."""
    data, flipped, proba, classes = noisy
    rows = sorted(flipped)
    given = [classes.index(data.labels[i]) for i in rows]
    model = TfidfClassifier().fit(data.texts, data.labels)
    in_sample = model.predict_proba([data.texts[i] for i in rows])
    columns = [model.labels.index(data.labels[i]) for i in rows]
    assert in_sample[np.arange(len(rows)), columns].mean() > 0.5 > proba[rows, given].mean()


def test_a_class_with_fewer_rows_than_folds_is_refused(sample: LabelledData) -> None:
    data = LabelledData([*sample.texts[:300], "odd one"], [*sample.labels[:300], "rare"], "s")
    with pytest.raises(DataError, match=r"classes \['rare'\] have fewer than 5 rows"):
        find_label_issues(data)


def test_inspect_label_issues_lists_rows_by_their_number(
    tmp_path: Path, sample: LabelledData
) -> None:
    small, _ = flip(LabelledData(sample.texts[:350], sample.labels[:350], "s"), 0.05, seed=5)
    path = tmp_path / "noisy.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": t, "team": lab}) + "\n"
            for t, lab in zip(small.texts, small.labels, strict=True)
        )
    )
    args = ["data", "inspect", str(path), "--label-col", "team", "--label-issues", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["rows_in"] == 350  # the health report is still there
    issues = out["label_issues"]["issues"]
    assert issues
    assert out["label_issues"]["rows"] == 350
    for issue in issues:
        assert small.texts[issue["row"] - 1] == issue["text"]
        assert small.labels[issue["row"] - 1] == issue["given"] != issue["suggested"]

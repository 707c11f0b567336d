"""Evaluation maths on a fake classifier with known outputs (pure logic, no model)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from models.base import FloatArray, Scores
from models.evaluate import evaluate, set_metrics
from models.exceptions import DataError
from models.gates import EvalPack
from models.report import write_reports


class FixedClassifier:
    """Returns a row of probabilities chosen by the text itself: "label:confidence[:novel]"."""

    version = "fixed"
    labels: ClassVar[list[str]] = ["billing", "cards"]
    temperature = 1.0

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        rows = []
        for text in texts:
            label, conf = text.split(":")[:2]
            p = float(conf)
            rows.append([p, 1 - p] if label == "billing" else [1 - p, p])
        return np.array(rows)

    def score(self, texts: Sequence[str]) -> Scores:
        novel = np.array([t.endswith(":novel") for t in texts])
        return Scores(self.predict_proba(texts), novel.astype(float), novel)

    def save(self, path: Path) -> Path:
        return path


TEXTS = ["billing:0.9", "billing:0.9", "cards:0.7", "cards:0.55", "cards:0.95:novel"]
LABELS = ["billing", "cards", "cards", "cards", "cards"]


def test_metrics_bands_and_gates() -> None:
    result = evaluate(FixedClassifier(), TEXTS, LABELS, pack=EvalPack(), baseline=FixedClassifier())
    assert result.accuracy == pytest.approx(4 / 5)
    assert result.per_class["billing"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert result.per_class["cards"]["recall"] == pytest.approx(3 / 4)
    assert result.macro_f1 == pytest.approx((2 / 3 + 6 / 7) / 2)
    # routed: the two 0.9 rows (one right); the 0.95 one is novel -> manual
    assert result.bands["routed"] == {"share": 0.4, "precision": 0.5}
    assert result.bands["shadow"] == {"share": 0.2, "precision": 1.0}
    assert result.bands["manual"] == {"share": 0.4, "precision": 1.0}
    assert result.novel_share == pytest.approx(0.2)
    assert result.confusion == {"labels": ["billing", "cards"], "matrix": [[1, 0], [1, 3]]}
    assert result.baseline == {"accuracy": 0.8, "macro_f1": pytest.approx(result.macro_f1)}
    data = result.to_dict()
    for key in ("accuracy", "macro_f1", "per_class", "ece", "bands", "gates", "baseline"):
        assert key in data
    assert data["gates"]["min_per_class_f1"]["class"] == "billing"


def test_labels_the_model_does_not_know_count_as_errors() -> None:
    result = evaluate(
        FixedClassifier(), ["billing:0.9", "cards:0.9"], ["billing", "fraud"], pack=EvalPack()
    )
    assert result.unknown_labels == ["fraud"]
    assert result.accuracy == 0.5
    assert result.per_class["fraud"]["support"] == 1


def test_empty_evaluation_is_refused() -> None:
    with pytest.raises(DataError, match="0 rows"):
        evaluate(FixedClassifier(), [], [], pack=EvalPack())


def test_reports_are_written_as_json_and_png(tmp_path: Path) -> None:
    result = evaluate(FixedClassifier(), TEXTS, LABELS, pack=EvalPack())
    written = write_reports(tmp_path / "report", result)
    assert [p.name for p in written] == [
        "metrics.json",
        "per_class.png",
        "confusion.png",
        "failure_clusters.html",
    ]
    for png in written[1:3]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the one failure (a billing ticket scored as cards) is a cluster of one, in JSON and HTML
    saved = json.loads(written[0].read_text())
    assert saved["failure_clusters"] == [
        {
            "id": 0,
            "size": 1,
            "mix": [{"true": "cards", "predicted": "billing", "count": 1}],
            "representative": {"text": "billing:0.9", "true": "cards", "predicted": "billing"},
        }
    ]
    page = written[3].read_text()
    assert "cards \u2192 billing: 1" in page
    assert "billing:0.9" in page


def test_a_label_sets_figures_read_like_any_heads() -> None:
    truth = [("a",), ("a", "b"), ("b",), ()]
    predicted = [("a",), ("a",), ("b", "c"), ()]

    got = set_metrics(truth, predicted)

    assert got["rows"] == 4
    assert got["accuracy"] == 0.5, "exact match: rows 1 and 4"
    assert got["per_class"]["b"]["recall"] == 0.5
    assert got["per_class"]["c"]["support"] == 0
    assert got["macro_f1"] == pytest.approx((1.0 + 2 / 3) / 2), "over the labels the truth holds"

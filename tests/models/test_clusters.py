"""Failure clusters: the clustering on planted vectors, and a planted confusable pair end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.base import FloatArray
from models.clusters import (
    Embed,
    cluster_vectors,
    embedder,
    failure_clusters,
    read_failure_clusters,
    unit_rows,
)
from models.evaluate import evaluate
from models.exceptions import DataError, ModelError
from models.gates import EvalPack
from models.report import clusters_html
from models.tfidf import TfidfClassifier


def _blobs() -> dict[str, FloatArray]:
    """Text -> vector: 6 tickets around axis 0, 3 around axis 1, one alone on axis 2; "a0" is
    exactly the first blob's centre direction, so it must be that cluster's representative."""
    rng = np.random.default_rng(0)
    vectors: dict[str, FloatArray] = {"a0": np.eye(8)[0]}
    for i in range(1, 6):
        vectors[f"a{i}"] = np.eye(8)[0] + rng.normal(0, 0.05, 8)
    for i in range(3):
        vectors[f"b{i}"] = np.eye(8)[1] + rng.normal(0, 0.05, 8)
    vectors["c0"] = np.eye(8)[2]
    return vectors


def _lookup(vectors: dict[str, FloatArray]) -> Embed:
    def embed(texts: Sequence[str]) -> FloatArray:
        return np.stack([vectors[t] for t in texts])

    return embed


def test_clusters_of_planted_vectors_are_found_largest_first() -> None:
    vectors = _blobs()
    texts = [*vectors, "right"]
    true = ["x" if t.startswith("a") else "y" for t in vectors] + ["z"]
    predicted = ["y" if t.startswith("a") else "x" for t in vectors] + ["z"]
    clusters = failure_clusters(texts, true, predicted, _lookup(vectors | {"right": np.ones(8)}))
    assert [c.size for c in clusters] == [6, 3, 1]
    assert [c.id for c in clusters] == [0, 1, 2]
    assert clusters[0].mix == [("x", "y", 6)]
    assert clusters[0].representative == "a0"
    assert clusters[1].mix == [("y", "x", 3)]
    assert clusters[1].representative.startswith("b")
    assert clusters[2].representative == "c0"
    assert failure_clusters(texts, true, predicted, _lookup(vectors), max_clusters=2)[-1].size == 3


def test_no_misclassified_tickets_give_no_clusters() -> None:
    assert failure_clusters(["a", "b"], ["x", "y"], ["x", "y"], None) == []
    assert failure_clusters([], [], [], None) == []


def test_lengths_that_disagree_are_refused() -> None:
    with pytest.raises(DataError, match="2 texts, 1 labels"):
        failure_clusters(["a", "b"], ["x"], ["x", "y"], None)


def test_tickets_without_known_words_form_their_own_cluster() -> None:
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.1]])
    assert np.allclose(np.linalg.norm(unit_rows(vectors), axis=1), 1.0)
    assignment = cluster_vectors(unit_rows(vectors), 0.5)
    assert assignment[0] == assignment[2] != assignment[1] == assignment[3]


def test_representatives_are_redacted_and_escaped_in_html() -> None:
    texts = ["<script>x</script> mail me at jane.doe@example.com", "fine"]
    clusters = failure_clusters(texts, ["x", "y"], ["y", "y"], None)
    assert "jane.doe@example.com" not in clusters[0].representative
    page = clusters_html(clusters)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "No misclassified tickets" in clusters_html([])


def _confusable_data() -> tuple[list[str], list[str], list[str], list[str]]:
    """Three teams with their own words, and one phrase ("refund for card fee") that billing
    and cards both handle, labelled alternately: a pair no model can separate."""
    own = {
        "billing": "invoice overdue payment statement",
        "cards": "card blocked pin atm",
        "delivery": "parcel courier tracking late",
    }
    train_x, train_y = [], []
    for label, words in own.items():
        for i in range(12):
            train_x.append(f"{words} number{i}")
            train_y.append(label)
    for i in range(20):
        train_x.append(f"refund for card fee order{i}")
        train_y.append("billing" if i % 2 else "cards")
    test_x = [f"refund for card fee ticket{i}" for i in range(10)]
    test_y = ["billing" if i % 2 else "cards" for i in range(10)]
    for label, words in own.items():
        test_x += [f"{words} item{i}" for i in range(3)]
        test_y += [label] * 3
    # two one-off failures with other teams' words: not part of the pair
    test_x += ["parcel courier tracking late again", "invoice overdue payment statement again"]
    test_y += ["billing", "delivery"]
    return train_x, train_y, test_x, test_y


def test_a_planted_confusable_pair_forms_one_cluster() -> None:
    train_x, train_y, test_x, test_y = _confusable_data()
    model = TfidfClassifier().fit(train_x, train_y)
    result = evaluate(model, test_x, test_y, pack=EvalPack())
    pair_failures = [
        i
        for i, (t, p) in enumerate(zip(test_y, result.predicted, strict=True))
        if t != p and test_x[i].startswith("refund")
    ]
    assert len(pair_failures) >= 3  # the plant worked: the pair is confused
    biggest = result.failure_clusters[0]
    assert biggest.size == len(pair_failures)
    assert {(t, p) for t, p, _ in biggest.mix} <= {("billing", "cards"), ("cards", "billing")}
    assert biggest.representative.startswith("refund for card fee")
    others = result.failure_clusters[1:]
    assert others
    assert all(not c.representative.startswith("refund") for c in others)
    assert result.to_dict()["failure_clusters"][0]["size"] == len(pair_failures)
    assert "failure_clusters" not in result.metrics_for_manifest()


class _Encoder:
    """Stands in for an encoder backend: ``forward_texts`` gives (logits, embedding)."""

    def forward_texts(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        return np.zeros((len(texts), 2)), np.full((len(texts), 3), 7.0)


def test_the_model_own_space_is_used() -> None:
    encoder = embedder(_Encoder())  # type: ignore[arg-type]
    assert encoder is not None
    assert np.array_equal(encoder(["a", "b"]), np.full((2, 3), 7.0))
    tfidf = TfidfClassifier().fit(["card lost", "bill late"], ["cards", "billing"])
    features = embedder(tfidf)
    assert features is not None
    assert features(["card late"]).shape == (1, tfidf.features(["x"]).shape[1])
    assert embedder(object()) is None  # type: ignore[arg-type]


def test_a_saved_report_is_read_back_and_an_old_one_has_no_clusters(tmp_path: Path) -> None:
    assert read_failure_clusters(tmp_path) == []  # saved without a report
    (tmp_path / "report").mkdir()
    metrics = tmp_path / "report" / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.9}))  # written before clusters existed
    assert read_failure_clusters(tmp_path) == []
    clusters = failure_clusters(["a b", "c"], ["x", "y"], ["y", "x"], None)
    metrics.write_text(json.dumps({"failure_clusters": [c.to_dict() for c in clusters]}))
    assert read_failure_clusters(tmp_path) == [c.to_dict() for c in clusters]
    metrics.write_text("{not json")
    with pytest.raises(ModelError, match="triage evaluate"):
        read_failure_clusters(tmp_path)
    metrics.write_text(json.dumps({"failure_clusters": {"id": 0}}))
    with pytest.raises(ModelError, match="not a list"):
        read_failure_clusters(tmp_path)

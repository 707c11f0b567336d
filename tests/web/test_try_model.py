"""What trying a ticket computes, without the web: the worker's decision on the same ticket,
occlusion in one batch of at most MAX_WORDS texts, and a few loaded models kept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from models import Classifier, ThresholdOverrides, load, read_manifest
from schemas import Ticket
from store import Store
from stream.serving import decide
from tests.fixtures.models import read_sample
from web.try_model import MAX_WORDS, Tryout, occlusion, ticket_text

SUBJECT = "card blocked, reach me at jo.doe@example.com"
BODY = "my card 4111 1111 1111 1111 was declined at the shop and the app says it is blocked"


class Counted:
    """A real model whose calls are counted (texts per call)."""

    def __init__(self, model: Classifier) -> None:
        self.model = model
        self.calls: list[int] = []

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def predict_proba(self, texts: Sequence[str]) -> Any:
        self.calls.append(len(texts))
        return self.model.predict_proba(texts)


def test_a_trial_is_the_workers_decision(tmp_path: Path, tfidf_model_dir: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        trial = Tryout(store, tfidf_model_dir).trial(BODY, SUBJECT)
    model = load(tfidf_model_dir, "cpu")
    ticket = Ticket(ticket_id="t1", subject=SUBJECT, body=BODY)
    (worker,) = decide(model, [ticket], [None], ThresholdOverrides())
    assert trial.text == f"{worker.subject}\n{worker.body}" == ticket_text(BODY, SUBJECT)
    assert "[EMAIL]" in trial.text
    assert "[CARD]" in trial.text
    assert (trial.label, trial.confidence, trial.band) == (
        worker.label,
        worker.confidence,
        worker.band,
    )
    assert trial.ranked[:3] == [(s.label, s.probability) for s in worker.top_k]
    assert trial.model_version == worker.model_version


def test_occlusion_is_one_batch_of_at_most_max_words(tfidf_model_dir: Path) -> None:
    model = Counted(load(tfidf_model_dir, "cpu"))
    text = " ".join(["card declined"] * 600)  # 1,200 words
    column = model.labels.index("cards") if "cards" in model.labels else 0
    base = float(model.model.predict_proba([text])[0, column])
    weights, total = occlusion(model, text, column, base)
    assert model.calls == [MAX_WORDS]
    assert total == 1200
    assert len(weights) == MAX_WORDS
    assert [text[w.start : w.end] for w in weights[:2]] == ["card", "declined"]

    short = "my card was declined"
    model.calls.clear()
    proba = model.model.predict_proba([short])[0]
    label = int(proba.argmax())
    weights, total = occlusion(model, short, label, float(proba[label]))
    assert model.calls == [4]
    assert total == 4
    without_card = model.model.predict_proba(["my  was declined"])[0, label]
    assert weights[1].drop == pytest.approx(float(proba[label] - without_card))
    assert occlusion(model, "   ", 0, 1.0) == ([], 0)


def test_registry_versions_and_a_few_models_kept(
    tmp_path: Path, tfidf_model_dir: Path, sample_dir: Path
) -> None:
    from models.tfidf import TfidfClassifier

    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    dirs = [tfidf_model_dir]
    for step in (2, 3):
        dirs.append(tmp_path / f"m{step}")
        TfidfClassifier().fit(texts[::step], labels[::step]).save(dirs[-1])
    names = [read_manifest(d).version for d in dirs]
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        alone = Tryout(store, tfidf_model_dir)
        assert [(v.version, v.status) for v in alone.versions()] == [(names[0], "model_dir")]
        for name, folder in zip(names, dirs, strict=True):
            store.register_candidate(name, str(folder))
        store.mark_deployed(names[1])
        tryout = Tryout(store, tfidf_model_dir, capacity=2)
        assert tryout.versions()[0].version == names[1]
        assert tryout.choose(None).version == names[1]
        for name in names:
            assert tryout.trial("card declined", version=name).model_version == name
        kept = list(tryout._models)
    assert kept == dirs[1:]  # the least recently used went first

"""The trigger: counting unused corrections, and a bad candidate never replacing the good one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import models
from learner.deploy import Announcer
from learner.gates import GateRule, Margins
from learner.retrain import Candidate, GoldSet, fit_candidate
from learner.settings import LearnerSettings
from learner.trigger import RetrainTrigger
from models.data import LabelledData
from models.gates import EvalPack
from schemas.topics import Topics
from store import CorrectionOutcome, Store, registry
from tests.fixtures.models import read_sample
from tests.learner.events import correction, decision

TEAMS = ["cards", "transfers", "accounts", "loans"]


def setup_gold(tmp_path: Path, sample_dir: Path) -> tuple[GoldSet, list[str], list[str]]:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    test_texts, test_labels = read_sample(sample_dir / "banking77_test.csv")
    gold = GoldSet(
        train=LabelledData(texts[:600], labels[:600], "gold"),
        test=LabelledData(test_texts[:200], test_labels[:200], "gold-test"),
    )
    gold.write(tmp_path / "gold")
    return gold, texts[600:], labels[600:]


def deploy_first_model(store: Store, tmp_path: Path, gold: GoldSet) -> Candidate:
    """A TF-IDF model trained on the gold set, registered and deployed: what a run gates against."""
    first = fit_candidate(
        gold.train, tmp_path / "models", backend="tfidf", test=gold.test, pack=EvalPack()
    )
    registry.register_candidate(store, first.version, str(first.model_dir))
    registry.mark_deployed(store, first.version)
    return first


def learner(
    store: Store, tmp_path: Path, retrain_after: int = 100, device: str = "auto", **extra: Any
) -> RetrainTrigger:
    # Nothing reachable: a rejected candidate must never be announced.
    announcer = Announcer("127.0.0.1:1", "redis://127.0.0.1:1/0", Topics("unused."))
    return RetrainTrigger(
        store=store,
        announcer=announcer,
        gold_dir=tmp_path / "gold",
        registry_dir=tmp_path / "models",
        pack=EvalPack(),
        gates=GateRule(Margins(0.01, 0.05), min_holdout_rows=10, min_class_support=5),
        retrain_after=retrain_after,
        holdout_share=0.2,
        backend="tfidf",
        device=device,
        **extra,
    )


def test_random_label_corrections_are_rejected_and_old_model_stays(
    store: Store, tmp_path: Path, sample_dir: Path
) -> None:
    gold, texts, _true = setup_gold(tmp_path, sample_dir)
    first = deploy_first_model(store, tmp_path, gold)
    labels = first.model.labels
    rng = random.Random(7)
    loop = learner(store, tmp_path)
    for i in range(100):
        tid = f"t{i}"
        store.add_decision(decision(tid, "cards", body=texts[i]))
        bad = correction(tid, rng.choice(labels), correction_id=f"c{i}")
        assert store.add_correction(bad, labels) in (
            CorrectionOutcome.stored,
            CorrectionOutcome.contradicts_decision,
        )
    while store.unused_corrections_count() < 100:  # confirms that contradicted were refused
        i = 100 + store.unused_corrections_count()
        store.add_decision(decision(f"x{i}", "cards", body=texts[i]))
        store.add_correction(
            correction(f"x{i}", rng.choice(labels[1:]), correction_id=f"x{i}"), labels
        )
    assert loop.due()

    result = loop.maybe_run()

    assert result is not None
    assert not result.gates_passed
    assert not result.deployed
    assert result.report["failures"], "a rejection must say which gates failed"
    assert registry.deployed(store).version == first.version  # type: ignore[union-attr]
    rejected = {r.version: r for r in registry.list_versions(store)}[result.version]
    assert rejected.status == "rejected"
    assert rejected.gate_report is not None
    assert rejected.gate_report["passed"] is False
    assert store.unused_corrections_count() == 0
    assert not loop.due()
    assert loop.maybe_run() is None


def test_below_threshold_nothing_runs(store: Store, tmp_path: Path) -> None:
    store.add_decision(decision("t1", "cards"))
    assert store.add_correction(correction("t1", "loans"), TEAMS) is CorrectionOutcome.stored
    loop = learner(store, tmp_path, retrain_after=2)
    assert not loop.due()
    assert loop.maybe_run() is None


def test_the_device_setting_reaches_training_and_the_deployed_models_load(
    store: Store, tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TRIAGE_DEVICE used to stop at the settings: the trigger trained and loaded on "cpu"."""
    gold, texts, _true = setup_gold(tmp_path, sample_dir)
    first = deploy_first_model(store, tmp_path, gold)
    labels = first.model.labels
    for i in range(20):
        store.add_decision(decision(f"t{i}", labels[0], body=texts[i]))
        outcome = store.add_correction(correction(f"t{i}", labels[1]), labels)
        assert outcome is CorrectionOutcome.stored
    fit_devices: list[Any] = []
    load_devices: list[Any] = []
    real_fit, real_load = fit_candidate, models.load

    def recording_fit(*args: Any, **kwargs: Any) -> Any:
        fit_devices.append(kwargs.get("device"))
        return real_fit(*args, **kwargs)

    def recording_load(path: Any, device: str = "auto", runtime: str = "auto") -> Any:
        load_devices.append(device)
        return real_load(path, device, runtime)

    monkeypatch.setattr("learner.trigger.fit_candidate", recording_fit)
    monkeypatch.setattr(models, "load", recording_load)  # the face the trigger imports from
    loop = learner(store, tmp_path, retrain_after=20, device=LearnerSettings(device="cpu").device)
    loop.pack = EvalPack(min_macro_f1=0.999)  # rejected: nothing is announced

    result = loop.maybe_run()

    assert result is not None
    assert not result.deployed
    assert fit_devices == ["cpu"]
    assert load_devices == ["cpu"]


def test_a_retrain_self_trains_on_unreviewed_routed_decisions_only(
    store: Store, tmp_path: Path, sample_dir: Path
) -> None:
    """TRIAGE_PSEUDO_FROM_ROUTED: routed decisions nobody reviewed are the unlabelled text a
    candidate self-trains on; a reviewed routed one is a correction, a shadow one is not routed."""
    gold, texts, _true = setup_gold(tmp_path, sample_dir)
    first = deploy_first_model(store, tmp_path, gold)
    labels = first.model.labels
    for i in range(20):
        store.add_decision(decision(f"t{i}", labels[0], body=texts[i]))
        assert (
            store.add_correction(correction(f"t{i}", labels[1]), labels) is CorrectionOutcome.stored
        )
    for i in range(20, 60):
        store.add_decision(decision(f"r{i}", labels[0], band="routed", body=texts[i]))
    store.add_decision(decision("s1", labels[0], band="shadow", body=texts[60]))
    store.add_correction(correction("r20", labels[0], reviewer="ana"), labels)  # confirmed

    loop = learner(store, tmp_path, retrain_after=20, pseudo_from_routed=30)
    loop.pack = EvalPack(min_macro_f1=0.999)  # rejected: nothing is announced
    result = loop.maybe_run()

    assert result is not None
    assert result.report["pseudo_candidates"] == 30  # the newest 30 of the 39 unreviewed
    manifest = models.read_manifest(tmp_path / "models" / result.version)
    report = manifest.metrics["training"]["pseudo_labels"]
    assert report["unlabelled"] == 30
    assert report["rounds"], "the candidate labelled the routed texts and tried a round"
    assert manifest.metrics["training"]["rows"]["train_pseudo"] == sum(report["added"].values())

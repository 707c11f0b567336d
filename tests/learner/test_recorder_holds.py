"""The recorder holds a correction the deciding model was confidently against (issue 16):
stored and acked like any other, never counted toward a retrain until a second reviewer
confirms it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from learner.recorder import RecordStage
from learner.settings import LearnerSettings
from schemas.topics import Topics
from store import HoldRule, Store
from tests.learner.events import LABELS, correction, decision
from tests.learner.test_recorder_fuzz import run


def stage(tmp_path: Path, hold: HoldRule | None) -> RecordStage:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    store.add_decision(decision("sure", "cards", p1=0.97, p2=0.02, band="routed"))
    store.add_decision(decision("unsure", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    return RecordStage(
        store=store,
        topics=Topics(),
        labels=lambda: frozenset(LABELS),
        executor=ThreadPoolExecutor(max_workers=1),
        hold=hold,
    )


def events() -> list[bytes]:
    return [
        correction("sure", "loans").model_dump_json().encode(),  # the model gave it 0.01
        correction("unsure", "transfers").model_dump_json().encode(),  # the runner-up
    ]


def test_the_contradicted_correction_is_held_and_the_honest_one_counts(tmp_path: Path) -> None:
    recorder = stage(tmp_path, HoldRule())
    outcome, send = run(recorder, "corrections", events())
    assert (outcome.stored, outcome.held, outcome.dead_letters, send.sent) == (2, 1, [], [])
    assert recorder.store.unused_corrections_count() == 1
    [held] = recorder.store.held_corrections()
    assert (held.ticket_id, held.label, held.hold_label) == ("sure", "loans", "cards")
    again, _ = run(recorder, "corrections", events())
    assert (again.stored, again.duplicates) == (0, 2)


def test_without_a_hold_rule_both_count(tmp_path: Path) -> None:
    recorder = stage(tmp_path, None)
    outcome, _ = run(recorder, "corrections", events())
    assert (outcome.stored, outcome.held) == (2, 0)
    assert recorder.store.unused_corrections_count() == 2


def test_the_settings_build_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_HOLD_CONFIDENCE", "0.97")
    monkeypatch.setenv("TRIAGE_FLAG_MIN_JUDGED", "8")
    monkeypatch.setenv("TRIAGE_FLAG_OVERTURNED_SHARE", "0.6")
    rule = LearnerSettings().hold_rule()
    assert rule is not None
    assert (rule.confidence, rule.flag.min_judged, rule.flag.overturned_share) == (0.97, 8, 0.6)
    monkeypatch.delenv("TRIAGE_HOLD_CONFIDENCE")
    assert LearnerSettings().hold_rule() is None  # no second review unless asked for

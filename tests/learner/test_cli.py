"""`triage queue`, `triage report bands`, `triage models list` against a real SQLite file;
`triage correct` through the real broker into each real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from learner.cli import correct_command, models_group, queue_command, report_group
from learner.gates import GOLD_TEST, Margins, judge
from models.gates import EvalPack
from schemas.events import Correction
from store import CorrectionOutcome, Store, registry
from store.tables import CorrectionRow
from tests.fixtures.stack import StreamEnv
from tests.learner.events import LABELS, correction, decision
from tests.learner.test_gates import metrics as gate_metrics


@pytest.fixture
def filled_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A SQLite store the commands find through TRIAGE_DATABASE_URL, as in production."""
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    monkeypatch.chdir(tmp_path)  # no var/stack.env from the checkout leaks in
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    store = Store.open(url)
    recent = int((datetime.now(UTC) - datetime(2025, 3, 1, 12, tzinfo=UTC)).total_seconds() // 60)
    store.add_decision(decision("close", "loans", p1=0.45, p2=0.40, band="manual", minutes=recent))
    store.add_decision(decision("wide", "cards", p1=0.75, p2=0.10, minutes=recent))
    store.add_decision(decision("r1", "cards", band="routed", p1=0.9, p2=0.05, minutes=recent))
    store.add_correction(correction("r1", "accounts", minutes=recent + 1), LABELS)
    registry.register_candidate(store, "v1", "/m/v1", metrics={"macro_f1": 0.81})
    registry.mark_deployed(store, "v1")
    registry.register_candidate(store, "v2", "/m/v2", metrics={"macro_f1": 0.7})
    registry.mark_rejected(store, "v2", gate_report={"passed": False})
    yield store
    store.close()


def test_queue_prints_most_uncertain_first(filled_store: Store) -> None:
    result = CliRunner().invoke(queue_command, ["--limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["ticket_id"] for r in rows] == ["close", "wide"]
    table = CliRunner().invoke(queue_command, ["--limit", "1", "--band", "shadow"])
    assert table.exit_code == 0, table.output
    assert "wide" in table.output
    assert "close" not in table.output


def test_report_bands_flags_low_routed_precision(filled_store: Store) -> None:
    result = CliRunner().invoke(report_group, ["bands", "--since", "24h", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["bands"]["routed"] == {"reviewed": 1, "correct": 0, "precision": 0.0}
    assert report["routed_below_target"] is True
    table = CliRunner().invoke(report_group, ["bands", "--fail-below-target"])
    assert table.exit_code == 1
    assert "ALERT: routed precision 0.000" in table.output


def test_report_bands_rejects_a_bad_window(filled_store: Store) -> None:
    result = CliRunner().invoke(report_group, ["bands", "--since", "yesterday"])
    assert result.exit_code != 0
    assert "not understood" in str(result.exception)


def test_models_list_marks_the_deployed_version(filled_store: Store) -> None:
    result = CliRunner().invoke(models_group, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("* v1") and "0.8100" in line for line in lines)
    assert any("v2" in line and "rejected" in line for line in lines)
    as_json = json.loads(CliRunner().invoke(models_group, ["list", "--json"]).output)
    assert [r["version"] for r in as_json] == ["v2", "v1"]


def test_models_list_shows_each_gate_with_its_paired_figures(filled_store: Store) -> None:
    """Issue 17: the history says why a candidate was rejected, with the interval behind it."""
    deployed = {GOLD_TEST: gate_metrics(400, x=20)}
    verdict = judge(
        {GOLD_TEST: gate_metrics(400, x=80)},
        deployed,
        pack=EvalPack(),
        margins=Margins(),
        min_holdout_rows=20,
    )
    registry.register_candidate(filled_store, "v3", "/m/v3", metrics={"macro_f1": 0.88})
    registry.mark_rejected(filled_store, "v3", gate_report=verdict.to_dict())

    result = CliRunner().invoke(models_group, ["list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("  v3")
    assert lines[2].startswith("    gold_test: FAIL (no_regression_macro_f1 failed: candidate 0.")
    assert lines[3].startswith(
        "      no_regression_macro_f1: candidate 0.8990 vs deployed 0.9750 on 800 rows, "
        "difference -0.0760, 95.0% interval [-0.0"
    )


@pytest.mark.integration
def test_correct_sent_twice_is_stored_and_counted_once(
    store: Store, stream_env: StreamEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: the same valid correction sent twice from the CLI gave two rows, both counted
    toward a retrain. Both sends now carry one derived key; the recorder stores it once."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_KAFKA_BOOTSTRAP", stream_env.stack.kafka_bootstrap)
    monkeypatch.setenv("TRIAGE_TOPIC_PREFIX", stream_env.topics.prefix)
    store.add_decision(decision("t1", "cards"))
    for _ in range(2):
        sent = CliRunner().invoke(
            correct_command, ["t1", "loans", "--reviewer", "ana", "--note", "wrong team"]
        )
        assert sent.exit_code == 0, (sent.output, sent.exception)
    records = stream_env.collect(
        [stream_env.topics.corrections], until=lambda r: len(r) >= 2, timeout_s=30
    )
    events = [Correction.model_validate_json(value) for _topic, _key, value in records]
    assert len(events) == 2
    # What the recorder does with each delivered event.
    outcomes = [store.add_correction(event, LABELS) for event in events]
    assert outcomes == [CorrectionOutcome.stored, CorrectionOutcome.duplicate]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(CorrectionRow)) == 1
    assert store.unused_corrections_count() == 1
    keyed = CliRunner().invoke(
        correct_command, ["t1", "loans", "--reviewer", "ana", "--idempotency-key", "hd-42"]
    )
    assert keyed.exit_code == 0, (keyed.output, keyed.exception)
    assert "published correction hd-42" in keyed.output

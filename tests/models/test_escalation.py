"""TRIAGE_ESCALATE: a head's answer sends a ticket to manual whatever its confidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.escalation import Escalation
from models.exceptions import ModelError


def test_rules_match_heads_and_the_primary_in_the_normal_form() -> None:
    rule = Escalation.parse(" intent = Compromised_Card , label=fx ")
    assert rule.rules == (("intent", "compromised_card"), ("label", "fx"))
    assert rule.fired("cards", {"intent": "compromised_card"}) == "intent=compromised_card"
    assert rule.fired("fx", {"intent": "exchange_rate"}) == "label=fx"
    assert rule.fired("cards", {"intent": "card_arrival"}) is None
    assert rule.fired("cards", {}) is None
    assert rule.missing_heads({"intent"}) == []
    assert Escalation.parse("urgency=high").missing_heads({"intent"}) == ["urgency"]
    assert Escalation.parse("").rules == ()


@pytest.mark.parametrize("text", ["urgency", "=high", "urgency=", "a=b,,c"])
def test_an_entry_that_is_not_head_equals_label_is_refused(text: str) -> None:
    with pytest.raises(ModelError, match=r"is not head=label: write e\.g\."):
        Escalation.parse(text)


def test_the_worker_refuses_a_bad_rule_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from stream.settings import WorkerSettings

    monkeypatch.setenv("TRIAGE_ESCALATE", "urgency")
    with pytest.raises(ValidationError, match="is not head=label"):
        WorkerSettings()


def test_predict_prints_every_head_and_escalates_like_the_worker(
    hierarchy_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.cli import predict_command

    text = "My new card still has not arrived, when will it come?"
    runner = CliRunner()
    plain = json.loads(runner.invoke(predict_command, [str(hierarchy_model_dir), text]).output)
    intent = plain["heads"]["intent"]
    assert plain["label"] == "cards"
    assert "escalated" not in plain
    monkeypatch.setenv("TRIAGE_ESCALATE", f"intent={intent['label']}")
    escalated = json.loads(runner.invoke(predict_command, [str(hierarchy_model_dir), text]).output)
    assert escalated["band"] == "manual"
    assert escalated["escalated"] == f"intent={intent['label']}"

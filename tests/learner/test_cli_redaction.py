"""`triage correct --note` redacts the note before it is published (issue 10: a note with a card
number and an email reached the topic and the store as typed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from learner.cli import correct_command
from schemas.events import Correction
from tests.fixtures.stack import StreamEnv

NOTE = "card 5555\u00a05555\u00a05555\u00a04444 per jo.doe@example.com, ssn 123-45-6789"


@pytest.mark.integration
def test_correct_note_is_redacted_before_it_is_published(
    stream_env: StreamEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_KAFKA_BOOTSTRAP", stream_env.stack.kafka_bootstrap)
    monkeypatch.setenv("TRIAGE_TOPIC_PREFIX", stream_env.topics.prefix)
    sent = CliRunner().invoke(correct_command, ["t1", "loans", "--reviewer", "ana", "--note", NOTE])
    assert sent.exit_code == 0, (sent.output, sent.exception)
    records = stream_env.collect(
        [stream_env.topics.corrections], until=lambda r: len(r) >= 1, timeout_s=30
    )
    (published,) = [Correction.model_validate_json(value) for _t, _k, value in records]
    assert published.note == "card [CARD] per [EMAIL], ssn [SSN]"
    assert b"5555" not in records[0][2]

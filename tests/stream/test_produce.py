"""`triage produce`: rows -> Ticket events keyed by ticket_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus import KafkaSecurity, ProducerConfig
from schemas.events import Ticket
from stream.exceptions import ProduceError
from stream.produce import Columns, RowProblem, produce, tickets_from_records
from tests.fixtures.stack import StreamEnv


def test_ids_are_deterministic_when_the_file_has_none() -> None:
    rows = [{"text": "card lost", "team": "cards"}, {"text": " ", "team": "fx"}, {"text": "fx?"}]
    out = list(tickets_from_records(rows, Columns(text="text"), stem="export"))
    assert isinstance(out[0], Ticket)
    assert out[0].ticket_id == "export-1"
    assert out[0].metadata == {"team": "cards"}
    assert isinstance(out[1], RowProblem)
    assert "row 2: no text" in out[1].reason
    assert isinstance(out[2], Ticket)
    assert out[2].ticket_id == "export-3"


def test_id_and_subject_columns_are_used() -> None:
    rows = [{"id": 17, "subject": "Help", "body": "card lost"}, {"id": "", "body": "x"}]
    out = list(tickets_from_records(rows, Columns(ticket_id="id", subject="subject"), stem="s"))
    assert isinstance(out[0], Ticket)
    assert (out[0].ticket_id, out[0].subject) == ("17", "Help")
    assert isinstance(out[1], RowProblem)
    assert "empty 'id'" in out[1].reason


def test_unknown_text_column_names_the_columns() -> None:
    with pytest.raises(ProduceError, match=r"no column 'body' \(columns: \['text'\]\)"):
        list(tickets_from_records([{"text": "x"}], Columns(), stem="s"))


@pytest.mark.integration
def test_jsonl_export_lands_on_incoming(stream_env: StreamEnv, tmp_path: Path) -> None:
    export = tmp_path / "tickets.jsonl"
    lines = [{"ticket_id": f"J-{i}", "body": f"ticket {i}"} for i in range(5)]
    lines.insert(2, {"ticket_id": "J-empty", "body": ""})
    export.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    report = produce(
        export,
        config=ProducerConfig(stream_env.stack.kafka_bootstrap, KafkaSecurity()),
        topic=stream_env.topics.incoming,
        columns=Columns(),
        limit=4,
    )
    records = stream_env.collect([stream_env.topics.incoming], until=lambda r: len(r) >= 4)
    assert report.sent == 4
    assert len(report.problems) == 1
    assert "row 3" in report.problems[0]
    assert sorted(key for _t, key, _v in records) == [b"J-0", b"J-1", b"J-2", b"J-3"]
    assert all(Ticket.model_validate_json(v).ticket_id == k.decode() for _t, k, v in records)

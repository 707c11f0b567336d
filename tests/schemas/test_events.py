import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import DeadLetter, Decision, HeadDecision, LabelScore, Ticket
from schemas.export import export_json_schemas
from schemas.topics import Topics


def test_ticket_keeps_unknown_fields() -> None:
    ticket = Ticket.model_validate({"ticket_id": "t1", "body": "hi", "priority": "high"})
    assert ticket.model_dump()["priority"] == "high"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"body": "x"}, "ticket_id"),
        ({"ticket_id": 5, "body": "x"}, "ticket_id"),
        ({"ticket_id": "t", "body": "   "}, "body is empty"),
        ({"ticket_id": "t", "body": ["x"]}, "body"),
        ({"ticket_id": " ", "body": "x"}, "ticket_id is blank"),
    ],
)
def test_ticket_rejects_bad_fields(payload: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        Ticket.model_validate(payload)


def test_ticket_text_reads_subject_then_body() -> None:
    assert Ticket(ticket_id="t", body="b", subject="s").text == "s\nb"
    assert Ticket(ticket_id="t", body="b").text == "b"


def test_dead_letter_keeps_non_utf8_bytes_as_base64() -> None:
    raw = b"\xff\xfe not utf-8"
    dl = DeadLetter.from_raw(
        raw, key=None, topic="tickets.incoming", partition=0, offset=7, stage="x", reason="r"
    )
    assert dl.payload_encoding == "base64"
    assert dl.original_bytes() == raw


def test_dead_letter_refuses_a_missing_or_unknown_field() -> None:
    where: dict[str, Any] = {"topic": "tickets.in", "partition": 0, "offset": 7, "reason": "r"}
    with pytest.raises(ValidationError, match="stage"):
        DeadLetter.from_raw(b"x", key=None, **where)
    with pytest.raises(ValidationError, match="stgae"):
        DeadLetter.from_raw(b"x", key=None, stgae="parse", **where)
    letter = DeadLetter.from_raw(b"x" * 10, key=b"k", stage="parse", max_payload_bytes=4, **where)
    assert (letter.payload, letter.truncated, letter.payload_bytes) == ("xxxx", True, 10)
    assert (letter.key, letter.offset, letter.kind) == ("k", 7, "other")


def test_decision_confidence_bounded() -> None:
    with pytest.raises(ValidationError):
        Decision(
            ticket_id="t", label="a", confidence=1.5, band="routed", top_k=[], model_version="v"
        )


def test_topics_prefix_and_bands() -> None:
    topics = Topics(prefix="staging.")
    assert topics.incoming == "staging.tickets.incoming"
    assert topics.band("shadow") == "staging.tickets.shadow"


def test_export_writes_a_schema_per_event(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    index = json.loads((tmp_path / "topics.json").read_text())
    assert index["tickets.routed"] == "Decision.schema.json"
    ticket_schema = json.loads((tmp_path / "Ticket.schema.json").read_text())
    assert set(ticket_schema["required"]) == {"ticket_id", "body"}
    assert len(written) == 6


def test_a_decision_from_before_threshold_sets_still_parses(tmp_path: Path) -> None:
    old = {
        "ticket_id": "t1",
        "label": "cards",
        "confidence": 0.9,
        "band": "routed",
        "top_k": [{"label": "cards", "probability": 0.9}],
        "model_version": "v1",
    }
    decision = Decision.model_validate(old)
    assert decision.threshold_set is None
    assert decision.would_route is False
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "Decision.schema.json").read_text())
    assert {"threshold_set", "would_route"} <= set(schema["properties"])
    assert not {"threshold_set", "would_route"} & set(schema["required"])


def test_a_decision_with_every_head_round_trips_through_its_json_schema(tmp_path: Path) -> None:
    import jsonschema_rs

    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "Decision.schema.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    intent = HeadDecision(
        label="card_arrival",
        confidence=0.8,
        band="shadow",
        parent_head="label",
        top_k=[LabelScore(label="card_arrival", probability=0.8)],
    )
    decision = Decision(
        ticket_id="t1",
        label="cards",
        confidence=0.95,
        band="routed",
        top_k=[LabelScore(label="cards", probability=0.95)],
        model_version="v1",
        heads={
            "intent": intent,
            "urgency": HeadDecision(label="high", confidence=0.7, band="shadow"),
            "tags": HeadDecision(
                label="refund", confidence=0.66, band="shadow", labels=["refund", "billing"]
            ),
        },
    )
    payload = json.loads(decision.model_dump_json())
    assert payload["heads"]["tags"]["labels"] == ["refund", "billing"]
    assert payload["heads"]["urgency"]["labels"] is None
    assert validator.is_valid(payload)
    assert Decision.model_validate(payload) == decision
    payload["heads"]["intent"]["band"] = "somewhere"
    assert not validator.is_valid(payload)
    payload["heads"]["intent"]["band"] = "shadow"
    payload["heads"]["tags"]["labels"] = "refund"
    assert not validator.is_valid(payload)
    old = json.loads(decision.model_dump_json(exclude={"heads"}))
    assert validator.is_valid(old)
    assert Decision.model_validate(old).heads == {}

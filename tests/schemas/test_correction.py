"""The correction's idempotency key: derived from what it says unless the producer gives one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.events import CORRECTION_HEAD, Correction
from schemas.export import export_json_schemas


def make(**fields: str) -> Correction:
    base = {"ticket_id": "t1", "label": "loans", "reviewer": "ana", "action": "override"}
    return Correction.model_validate({**base, **fields})


def test_the_same_correction_built_twice_has_one_key() -> None:
    first = make(note="first try")
    again = Correction(
        ticket_id="t1",
        label="loans",
        reviewer="ana",
        action="override",
        corrected_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert first.correction_id == again.correction_id
    assert first.correction_id == Correction.idempotency_key("t1", "loans", "ana", CORRECTION_HEAD)


@pytest.mark.parametrize("changed", [{"ticket_id": "t2"}, {"label": "cards"}, {"reviewer": "ben"}])
def test_a_different_ticket_label_or_reviewer_is_a_different_key(changed: dict[str, str]) -> None:
    assert make(**changed).correction_id != make().correction_id


def test_the_key_frames_its_parts_and_names_the_head() -> None:
    assert Correction.idempotency_key("a b", "c", "r") != Correction.idempotency_key(
        "a", "b c", "r"
    )
    assert Correction.idempotency_key("t", "l", "r", head="urgency") != (
        Correction.idempotency_key("t", "l", "r")
    )


def test_a_given_key_wins_and_survives_the_wire() -> None:
    given = make(correction_id="helpdesk-123")
    assert given.correction_id == "helpdesk-123"
    assert Correction.model_validate_json(given.model_dump_json()) == given
    omitted = Correction.model_validate_json(
        json.dumps({"ticket_id": "t1", "label": "loans", "reviewer": "ana", "action": "override"})
    )
    assert omitted.correction_id == make().correction_id, "the recorder derives the same key"


def test_a_key_too_long_for_the_store_is_refused() -> None:
    with pytest.raises(ValidationError, match="correction_id"):
        make(correction_id="x" * 129)


def test_exported_schema_documents_the_key(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "Correction.schema.json").read_text())
    # label, or labels for a multi-label head (anyOf, see below)
    assert set(schema["required"]) == {"ticket_id", "reviewer", "action"}
    assert "idempotency key" in schema["properties"]["correction_id"]["description"]


def test_a_correction_names_its_head_and_old_ones_mean_the_primary() -> None:
    old = Correction.model_validate_json(
        json.dumps({"ticket_id": "t1", "label": "loans", "reviewer": "ana", "action": "override"})
    )
    assert old.head == CORRECTION_HEAD == "label"
    child = make(head="intent", label="card_arrival")
    assert child.correction_id == Correction.idempotency_key("t1", "card_arrival", "ana", "intent")
    assert child.correction_id != make(label="card_arrival").correction_id
    assert Correction.model_validate_json(child.model_dump_json()) == child
    with pytest.raises(ValidationError, match="head"):
        make(head="")


def test_exported_schema_documents_the_head(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "Correction.schema.json").read_text())
    head = schema["properties"]["head"]
    assert head["default"] == "label"
    assert "primary head" in head["description"]
    assert "head" not in schema["required"]


def test_a_multilabel_correction_carries_its_set_as_its_label() -> None:
    first = Correction.model_validate(
        {"ticket_id": "t1", "head": "tags", "labels": ["refund", "billing", "refund"],
         "reviewer": "ana", "action": "override"}
    )  # fmt: skip
    again = Correction.model_validate_json(first.model_dump_json())

    assert first.labels == ["billing", "refund"]
    assert first.label == '["billing", "refund"]'
    assert Correction.label_set(first.label) == ("billing", "refund")
    assert again == first
    assert make(head="tags", labels=[], label="[]").label == "[]"  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="omit label"):
        make(head="tags", labels=["billing"])  # type: ignore[arg-type]


def test_exported_schema_takes_a_label_or_a_label_set(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "Correction.schema.json").read_text())
    assert "label" not in schema["required"]
    assert {"required": ["labels"]} in schema["anyOf"]
    assert "multi-label" in schema["properties"]["labels"]["description"]

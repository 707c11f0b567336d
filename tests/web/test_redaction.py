"""A reviewer's note is redacted before the web publishes the correction: the corrections topic,
and so the store, never see the card number or address a reviewer pasted (issue 10)."""

from __future__ import annotations

import pytest

from schemas.events import Correction
from tests.web.conftest import API_TOKEN, WebEnv
from tests.web.events import decision

pytestmark = pytest.mark.integration

NOTE = "customer pasted 4111.1111.1111.1111, reply to jo.doe@example.com"


def test_note_is_redacted_before_it_is_published(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    with web_env.client() as client:
        done = client.post(
            "/api/decisions",
            json={"ticket_id": "t1", "label": "fx", "note": NOTE},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    assert done.status_code == 200, done.text
    assert done.json()["note"] == "customer pasted [CARD], reply to [EMAIL]"
    records = web_env.stream.collect(
        [web_env.stream.topics.corrections], until=lambda r: len(r) >= 1, timeout_s=30
    )
    (published,) = [Correction.model_validate_json(value) for _t, _k, value in records]
    assert published.note == "customer pasted [CARD], reply to [EMAIL]"
    assert b"4111" not in records[0][2]
    assert b"example.com" not in records[0][2]

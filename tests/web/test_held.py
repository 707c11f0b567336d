"""Second review on the web (issue 16): held corrections listed for other reviewers, a verdict
through the API, and flagged reviewers on the dashboard, over the real stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store import CorrectionOutcome, HoldRule, Store
from tests.fixtures.stack import StreamEnv
from tests.learner.events import LABELS, correction, decision
from tests.web.conftest import API_TOKEN, WebEnv, sign_in, web_settings

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}  # the reviewer-role token "helpdesk"


@pytest.fixture
def held_env(
    stream_env: StreamEnv, tfidf_model_dir: Path, database_url: str, store: Store
) -> WebEnv:
    """Three corrections by ana the deciding model was sure against (held), on each backend;
    a reviewer is flagged after 2 judged holds."""
    settings = web_settings(stream_env, database_url, tfidf_model_dir).model_copy(
        update={"flag_min_judged": 2}
    )
    for i in range(3):
        store.add_decision(decision(f"t{i}", "cards", p1=0.97, p2=0.02, band="routed"))
        held = correction(f"t{i}", "loans", correction_id=f"c{i}", reviewer="ana")
        assert store.add_correction(held, LABELS, HoldRule()) is CorrectionOutcome.held
    return WebEnv(settings, store, stream_env)


def verdict(client: TestClient, csrf: str, correction_id: str, verdict: str) -> dict[str, object]:
    response = client.post(
        "/api/held/verdict",
        json={"correction_id": correction_id, "verdict": verdict, "note": "checked"},
        headers={"X-CSRF-Token": csrf},
    )
    result: dict[str, object] = {"status": response.status_code, **response.json()}
    return result


def test_other_reviewers_see_held_corrections_and_the_sender_does_not(held_env: WebEnv) -> None:
    with held_env.client() as client:
        sign_in(client, "ana")
        assert client.get("/api/held").json() == []
    with held_env.client() as client:
        sign_in(client, "ben")
        held = client.get("/api/held").json()
    assert [h["correction_id"] for h in held] == ["c0", "c1", "c2"]
    assert held[0]["label"] == "loans"
    assert held[0]["hold_label"] == "cards"
    assert held[0]["hold_against"] == pytest.approx(0.99)
    assert held[0]["text"] == "help\nmy card was declined"


def test_a_confirmed_correction_trains_and_an_overturned_one_flags(held_env: WebEnv) -> None:
    store = held_env.store
    with held_env.client() as client:
        csrf = sign_in(client, "ben")
        confirmed = verdict(client, csrf, "c0", "confirm")
        assert confirmed == {
            "status": 200,
            "correction_id": "c0",
            "verdict": "confirm",
            "judged_by": "ben",
            "reviewer": "ana",
            "reviewer_flagged": False,
        }
        assert store.unused_corrections_count() == 1
        assert verdict(client, csrf, "c1", "overturn")["reviewer_flagged"] is False
        assert verdict(client, csrf, "c2", "overturn")["reviewer_flagged"] is True
        again = verdict(client, csrf, "c2", "confirm")
        assert (again["status"], again["code"]) == (409, "already_reviewed")
        assert "is overturned by 'ben', not held" in str(again["message"])
        unknown = verdict(client, csrf, "nope", "confirm")
        assert (unknown["status"], unknown["code"]) == (404, "unknown_corrections")
        dashboard = client.get("/api/dashboard").json()
    assert store.unused_corrections_count() == 1  # the overturned ones never count
    [ana] = dashboard["reviewers"]
    assert (ana["reviewer"], ana["flagged"], ana["overturned"], ana["confirmed"]) == (
        "ana",
        True,
        2,
        1,
    )
    assert dashboard["held_waiting"] == 0


def test_nobody_judges_their_own_and_ops_cannot_judge(held_env: WebEnv) -> None:
    with held_env.client() as client:
        csrf = sign_in(client, "ana")
        own = verdict(client, csrf, "c0", "confirm")
        assert (own["status"], own["code"]) == (403, "forbidden")
        assert "a second reviewer must judge it" in str(own["message"])
    with held_env.client() as client:
        csrf = sign_in(client, "olga")
        assert verdict(client, csrf, "c0", "confirm")["status"] == 403
        assert len(client.get("/api/held").json()) == 3  # ops may read
    with held_env.client() as client:  # an API client with the reviewer role
        response = client.post(
            "/api/held/verdict", json={"correction_id": "c0", "verdict": "overturn"}, headers=BEARER
        )
        assert response.status_code == 200, response.text
        assert response.json()["judged_by"] == "helpdesk"


def test_the_review_page_carries_the_second_review(held_env: WebEnv) -> None:
    with held_env.client() as client:
        sign_in(client, "ben")
        page = client.get("/queue").text
        assert 'id="held"' in page
        assert "/static/held.js" in page
        script = client.get("/static/held.js")
        assert script.status_code == 200
        assert "/api/held/verdict" in script.text
        dashboard = client.get("/dashboard").text
        assert 'id="reviewers"' in dashboard

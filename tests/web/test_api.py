"""The JSON API and pages through FastAPI's TestClient: a real SQLite store, the session's real
redis and broker. Auth refusals, CSRF, roles, first reviewer wins, bearer tokens, escaping, CSP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.events import Correction
from store import CorrectionOutcome
from tests.web.conftest import API_TOKEN, PASSWORD, USERS, WebEnv, csrf_of, sign_in
from tests.web.events import HOSTILE_BODY, decision, headed
from web.app import CSP, build_services
from web.auth import hash_password
from web.settings import UserEntry

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


def test_nothing_works_without_auth(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    with web_env.client() as client:
        assert client.get("/api/queue").status_code == 401
        assert client.get("/api/dashboard").status_code == 401
        refused = client.post("/api/decisions", json={"ticket_id": "t1", "label": "fx"})
        assert refused.status_code == 401
        assert "sign in" in refused.json()["message"]
        for page in ("/queue", "/dashboard", "/"):
            response = client.get(page, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/login"
        bad = client.get("/api/queue", headers={"Authorization": "Bearer not-the-token"})
        assert bad.status_code == 401
    assert web_env.store.unused_corrections_count() == 0


def test_wrong_password_and_missing_csrf_refuse_sign_in(web_env: WebEnv) -> None:
    with web_env.client() as client:
        token = csrf_of(client.get("/login").text)
        wrong = client.post(
            "/login", data={"username": "ana", "password": "nope", "csrf_token": token}
        )
        assert wrong.status_code == 401
        assert "Wrong user name or password" in wrong.text
        unknown = client.post(
            "/login", data={"username": "zed", "password": PASSWORD, "csrf_token": token}
        )
        assert unknown.status_code == 401
        no_csrf = client.post(
            "/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False
        )
        assert no_csrf.status_code == 200
        assert "expired" in no_csrf.text
        assert client.get("/queue", follow_redirects=False).status_code == 303


def test_cookie_writes_need_the_csrf_token_and_the_reviewer_role(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    with web_env.client() as client:
        csrf = sign_in(client, "ana")
        body = {"ticket_id": "t1", "label": "fx"}
        assert client.post("/api/decisions", json=body).status_code == 403
        wrong = client.post("/api/decisions", json=body, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        assert "CSRF" in wrong.json()["message"]
        assert client.get("/api/queue").status_code == 200  # reads need no token
        logout = client.post("/logout", data={"csrf_token": "forged"})
        assert logout.status_code == 403
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 200
        assert client.get("/api/queue").status_code == 401
    with web_env.client() as client:
        csrf = sign_in(client, "olga")  # ops: read-only
        ops = client.post("/api/decisions", json=body, headers={"X-CSRF-Token": csrf})
        assert ops.status_code == 403
        assert "ops role" in ops.json()["message"]
        assert client.get("/api/dashboard").status_code == 200


def test_queue_in_uncertainty_order_and_first_reviewer_wins(web_env: WebEnv) -> None:
    store = web_env.store
    store.add_decision(decision("wide", p1=0.8, p2=0.1))  # margin 0.7
    store.add_decision(decision("close", p1=0.45, p2=0.44, band="manual"))  # margin 0.01
    store.add_decision(decision("mid", label="fx", runner_up="cards", p1=0.6, p2=0.3))
    store.add_decision(decision("auto", p1=0.99, p2=0.01, band="routed"))
    with web_env.client() as ana, web_env.client() as ben:
        ana_csrf, ben_csrf = sign_in(ana, "ana"), sign_in(ben, "ben")
        queue = ana.get("/api/queue").json()
        assert [item["ticket_id"] for item in queue] == ["close", "mid", "wide"]
        assert queue[0]["top3"][0] == {"label": "cards", "probability": 0.45}
        assert len(queue[0]["top3"]) == 3
        assert [i["ticket_id"] for i in ana.get("/api/queue?band=manual").json()] == ["close"]
        assert [i["ticket_id"] for i in ana.get("/api/queue?label=fx").json()] == ["mid"]
        assert ana.get("/api/queue?model_version=v9").json() == []

        first = ana.post(
            "/api/decisions",
            json={"ticket_id": "close", "label": "transfers"},
            headers={"X-CSRF-Token": ana_csrf},
        )
        assert first.status_code == 200, first.text
        assert first.json()["action"] == "override"
        assert first.json()["reviewer"] == "ana"
        second = ben.post(
            "/api/decisions",
            json={"ticket_id": "close", "label": "cards"},
            headers={"X-CSRF-Token": ben_csrf},
        )
        assert second.status_code == 409
        assert second.json() == {
            "code": "already_reviewed",
            "message": "already reviewed by ana",
            "field": "body.ticket_id",
            "reviewer": "ana",
        }
        # the claimed ticket leaves everyone's queue before the recorder stores it
        assert "close" not in [i["ticket_id"] for i in ben.get("/api/queue").json()]
        routed = ana.post(
            "/api/decisions",
            json={"ticket_id": "auto", "label": "cards"},
            headers={"X-CSRF-Token": ana_csrf},
        )
        assert routed.status_code == 404
        bad_label = ana.post(
            "/api/decisions",
            json={"ticket_id": "mid", "label": "astrology"},
            headers={"X-CSRF-Token": ana_csrf},
        )
        assert bad_label.status_code == 422
    records = web_env.stream.collect(
        [web_env.stream.topics.corrections], until=lambda r: len(r) >= 1, settle_s=1
    )
    assert len(records) == 1  # the loser published nothing
    published = Correction.model_validate_json(records[0][2])
    assert (published.ticket_id, published.label, published.reviewer, published.action) == (
        "close",
        "transfers",
        "ana",
        "override",
    )


def test_a_review_already_in_the_store_wins_too(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    labels = ["cards", "fx"]
    stored = Correction(ticket_id="t1", label="fx", reviewer="carla", action="override")
    assert web_env.store.add_correction(stored, labels) is CorrectionOutcome.stored
    with web_env.client() as client:
        csrf = sign_in(client, "ana")
        response = client.post(
            "/api/decisions",
            json={"ticket_id": "t1", "label": "cards"},
            headers={"X-CSRF-Token": csrf},
        )
    assert response.status_code == 409
    assert response.json()["message"] == "already reviewed by carla"


def test_bearer_token_reads_and_decides_without_csrf(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    with web_env.client() as client:
        assert [i["ticket_id"] for i in client.get("/api/queue", headers=BEARER).json()] == ["t1"]
        done = client.post(
            "/api/decisions", json={"ticket_id": "t1", "label": "cards"}, headers=BEARER
        )
        assert done.status_code == 200, done.text
        assert done.json()["action"] == "confirm"
        assert done.json()["reviewer"] == "helpdesk"
        schema = client.get("/api/openapi.json").json()
    assert {"/api/queue", "/api/decisions", "/api/dashboard"} <= set(schema["paths"])
    assert "409" in schema["paths"]["/api/decisions"]["post"]["responses"]


def test_hostile_text_is_escaped_and_every_response_carries_the_csp(web_env: WebEnv) -> None:
    hostile_user = '<img src=x onerror="window.__pwned=1">'
    users = {**USERS, hostile_user: UserEntry(password_hash=hash_password(PASSWORD))}
    services = build_services(
        web_env.settings.model_copy(update={"web_users": users}), web_env.store
    )
    web_env.store.add_decision(decision("t1", body=HOSTILE_BODY, subject="<b>bold</b>"))
    with web_env.client(services) as client:
        login = client.get("/login")
        sign_in(client, hostile_user)
        page = client.get("/queue")
        api = client.get("/api/queue")
        static = client.get("/static/queue.js")
    for response in (login, page, api, static):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert hostile_user not in page.text
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in page.text
    assert "<script>window.__pwned" not in page.text
    assert "<script>" not in page.text.replace('<script src="/static/queue.js"></script>', "")
    # JSON carries the text as data; the page writes it with textContent (browser test proves it)
    assert api.json()[0]["text"].endswith(HOSTILE_BODY)
    assert api.headers["content-type"] == "application/json"


def test_every_head_is_shown_and_reviewed_on_its_own(
    web_env: WebEnv, hierarchy_model_dir: Path
) -> None:
    """A hierarchy model deployed: the queue carries the intent head, GET /api/heads offers its
    labels under their team, a correction names its head, first reviewer wins per head."""
    settings = web_env.settings.model_copy(update={"model_dir": hierarchy_model_dir})
    web_env.store.add_decision(headed("t1"))
    with web_env.client(settings=settings) as ana, web_env.client(settings=settings) as ben:
        ana_csrf, ben_csrf = sign_in(ana, "ana"), sign_in(ben, "ben")
        heads = ana.get("/api/heads").json()
        assert list(heads) == ["label", "intent"]
        assert heads["intent"]["parent_head"] == "label"
        assert heads["intent"]["parent_of"]["card_arrival"] == "cards"
        assert "card_arrival" in heads["intent"]["labels"]
        (item,) = ana.get("/api/queue").json()
        assert item["heads"]["intent"]["label"] == "card_arrival"
        assert item["least_certain_head"] == "intent"

        def post(client: Any, csrf: str, **body: str) -> Any:
            return client.post(
                "/api/decisions", json={"ticket_id": "t1", **body}, headers={"X-CSRF-Token": csrf}
            )

        child = post(ana, ana_csrf, label="card_linking", head="intent")
        assert child.status_code == 200, child.text
        assert (child.json()["head"], child.json()["action"]) == ("intent", "override")
        again = post(ben, ben_csrf, label="card_arrival", head="intent")
        assert (again.status_code, again.json()["reviewer"]) == (409, "ana")
        unknown = post(ben, ben_csrf, label="high", head="urgency")
        assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_head")
        assert "GET /api/heads" in unknown.json()["message"]
        wrong = post(ben, ben_csrf, label="cards", head="intent")
        assert (wrong.status_code, wrong.json()["code"]) == (422, "unknown_label")
        team = post(ben, ben_csrf, label="cards")  # the primary head is still ben's to review
        assert (team.status_code, team.json()["action"]) == (200, "confirm")
    records = web_env.stream.collect(
        [web_env.stream.topics.corrections], until=lambda r: len(r) >= 2, settle_s=1
    )
    published = [Correction.model_validate_json(v) for _, _, v in records]
    assert [(c.head, c.label, c.reviewer) for c in published] == [
        ("intent", "card_linking", "ana"),
        ("label", "cards", "ben"),
    ]


@pytest.mark.slow
def test_a_multilabel_head_is_reviewed_as_a_set(web_env: WebEnv, headed_model_dir: Path) -> None:
    """A model with a multi-label head (tags): GET /api/heads says it takes a set, a set that
    differs overrides, one label for it (or a set for a one-label head) is a 422 naming why."""
    from schemas.events import HeadDecision, LabelScore

    settings = web_env.settings.model_copy(update={"model_dir": headed_model_dir})
    tags = HeadDecision(
        label="cards",
        labels=["cards"],
        confidence=0.6,
        band="manual",
        top_k=[LabelScore(label="cards", probability=0.7)],
    )
    web_env.store.add_decision(decision("t1").model_copy(update={"heads": {"tags": tags}}))
    with web_env.client(settings=settings) as ana:
        csrf = sign_in(ana, "ana")
        heads = ana.get("/api/heads").json()
        assert (heads["tags"]["multilabel"], heads["label"]["multilabel"]) == (True, False)

        def post(**body: Any) -> Any:
            return ana.post(
                "/api/decisions", json={"ticket_id": "t1", **body}, headers={"X-CSRF-Token": csrf}
            )

        one = post(label="card", head="tags")
        assert (one.status_code, one.json()["code"]) == (422, "unknown_label")
        assert "takes labels" in one.json()["message"]
        alien = post(labels=["cards", "spam"], head="tags")
        assert (alien.status_code, alien.json()["code"]) == (422, "unknown_label")
        sets = post(labels=["cards"])  # the primary head takes one label
        assert (sets.status_code, sets.json()["code"]) == (422, "unknown_label")
        done = post(labels=["card", "cards"], head="tags")
        assert done.status_code == 200, done.text
        assert (done.json()["action"], done.json()["labels"]) == ("override", ["card", "cards"])
    records = web_env.stream.collect(
        [web_env.stream.topics.corrections], until=lambda r: len(r) >= 1, settle_s=1
    )
    (published,) = [Correction.model_validate_json(v) for _, _, v in records]
    assert (published.head, published.labels) == ("tags", ["card", "cards"])

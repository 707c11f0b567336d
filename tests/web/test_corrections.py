"""Correction management on the web, for admins only, on the real SQLite and PostgreSQL stores
(issue 10, point 5): list, quarantine, release, delete, each in the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store import Store, corrections
from tests.fixtures.stack import StreamEnv
from tests.learner.events import LABELS, correction, decision
from tests.web.conftest import PASSWORD, TOKENS, USERS, WebEnv, sign_in, web_settings
from web.auth import hash_password, token_digest
from web.settings import TokenEntry, UserEntry

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
ADMIN_BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def admin_env(
    stream_env: StreamEnv, tfidf_model_dir: Path, database_url: str, store: Store
) -> WebEnv:
    """The web tests' app plus an admin user ``root`` and an admin API token, over ``store``
    (each backend): three corrections by ana, one by a script."""
    settings = web_settings(stream_env, database_url, tfidf_model_dir).model_copy(
        update={
            "web_users": {
                **USERS,
                "root": UserEntry(password_hash=hash_password(PASSWORD), role="admin"),
            },
            "web_tokens": {
                **TOKENS,
                "janitor": TokenEntry(token_sha256=token_digest(ADMIN_TOKEN), role="admin"),
            },
        }
    )
    for i in range(3):
        store.add_decision(decision(f"t{i}", "cards"))
        store.add_correction(correction(f"t{i}", "loans", correction_id=f"c{i}"), LABELS)
    store.add_decision(decision("b0", "cards"))
    store.add_correction(correction("b0", "accounts", correction_id="b0", reviewer="bot"), LABELS)
    return WebEnv(settings, store, stream_env)


def statuses(store: Store) -> dict[str, str]:
    return {r.correction_id: r.status for r in corrections.list_corrections(store)}


def post(client: TestClient, verb: str, csrf: str, **body: object) -> dict[str, object]:
    response = client.post(f"/api/corrections/{verb}", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_an_admin_lists_quarantines_releases_and_deletes_with_audit(admin_env: WebEnv) -> None:
    store = admin_env.store
    with admin_env.client() as client:
        csrf = sign_in(client, "root")
        listed = client.get("/api/corrections").json()
        assert {r["correction_id"] for r in listed} == {"c0", "c1", "c2", "b0"}

        held = post(client, "quarantine", csrf, correction_ids=["c0", "c1"], reason="random")
        assert held["changed"] == ["c0", "c1"]
        assert post(client, "quarantine", csrf, reviewer="bot", reason="a script")["changed"] == [
            "b0"
        ]
        quarantined = client.get("/api/corrections", params={"status": "quarantined"}).json()
        assert {r["correction_id"] for r in quarantined} == {"c0", "c1", "b0"}
        assert store.unused_corrections_count() == 1
        again = post(client, "quarantine", csrf, correction_ids=["c0"], reason="twice")
        assert again == {"changed": [], "audit_id": None}

        assert post(client, "release", csrf, correction_ids=["c1"], reason="ok")["changed"] == [
            "c1"
        ]
        assert post(client, "delete", csrf, correction_ids=["b0"], reason="spam")["changed"] == [
            "b0"
        ]
        missing = client.post(
            "/api/corrections/delete",
            json={"correction_ids": ["b0"], "reason": "again"},
            headers={"X-CSRF-Token": csrf},
        )
        assert missing.status_code == 404
        assert "no correction b0" in missing.json()["message"]
        nothing = client.post(
            "/api/corrections/release", json={"reason": "all"}, headers={"X-CSRF-Token": csrf}
        )
        assert nothing.status_code == 422

        audit = client.get("/api/corrections/audit").json()
    assert statuses(store) == {"c0": "quarantined", "c1": "active", "c2": "active"}
    assert [(a["action"], a["actor"], a["reason"], a["correction_ids"]) for a in audit] == [
        ("delete", "root", "spam", ["b0"]),
        ("release", "root", "ok", ["c1"]),
        ("quarantine", "root", "a script", ["b0"]),
        ("quarantine", "root", "random", ["c0", "c1"]),
    ]
    assert audit[0]["details"]["rows"][0]["reviewer"] == "bot"


def test_an_admin_token_needs_no_csrf(admin_env: WebEnv) -> None:
    with admin_env.client() as client:
        response = client.post(
            "/api/corrections/quarantine",
            json={"correction_ids": ["c2"], "reason": "scripted cleanup"},
            headers=ADMIN_BEARER,
        )
        assert response.status_code == 200, response.text
    assert statuses(admin_env.store)["c2"] == "quarantined"
    assert corrections.audit_log(admin_env.store)[0].actor == "janitor"


def test_non_admins_and_missing_csrf_are_refused(admin_env: WebEnv) -> None:
    body = {"correction_ids": ["c0"], "reason": "because"}
    with admin_env.client() as client:
        assert client.get("/api/corrections").status_code == 401
        assert client.post("/api/corrections/delete", json=body).status_code == 401
    for user in ("ana", "olga"):  # a reviewer, an ops user
        with admin_env.client() as client:
            csrf = sign_in(client, user)
            refused = client.get("/api/corrections")
            assert refused.status_code == 403
            assert "needs admin" in refused.json()["message"]
            assert client.get("/api/corrections/audit").status_code == 403
            for verb in ("quarantine", "release", "delete"):
                write = client.post(
                    f"/api/corrections/{verb}", json=body, headers={"X-CSRF-Token": csrf}
                )
                assert write.status_code == 403, (user, verb)
    with admin_env.client() as client:
        sign_in(client, "root")
        no_csrf = client.post("/api/corrections/delete", json=body)
        assert no_csrf.status_code == 403
        assert "CSRF" in no_csrf.json()["message"]
    assert set(statuses(admin_env.store).values()) == {"active"}
    assert corrections.audit_log(admin_env.store) == []

"""Sessions end when they should and sign-in cannot be guessed at speed (issue 10's table):
a cookie forged with the signing key, a cookie reused after sign-out, 20 wrong passwords in
under a second. Real redis, two apps standing in for two replicas."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import itsdangerous
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, SECRET_KEY, WebEnv, csrf_of, sign_in
from web.cli import web_group

pytestmark = pytest.mark.integration

COOKIE = "triage_session"


def forged(payload: dict[str, str]) -> str:
    """A session cookie as someone who knows the signing key would make it."""
    data = base64.b64encode(json.dumps(payload).encode())
    return itsdangerous.TimestampSigner(SECRET_KEY).sign(data).decode()


def attempt(client: TestClient, user: str, password: str) -> tuple[int, str, str | None]:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return response.status_code, response.text, response.headers.get("retry-after")


def triage_web(web_env: WebEnv, *args: str) -> Result:
    settings = web_env.settings
    env = {
        "TRIAGE_REDIS_URL": settings.redis_url,
        "TRIAGE_TOPIC_PREFIX": settings.topic_prefix,
        "TRIAGE_SECRET_KEY": SECRET_KEY,
    }
    result = CliRunner().invoke(web_group, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def refused(client: TestClient) -> bool:
    page = client.get("/queue", follow_redirects=False)
    api = client.get("/api/queue")
    return (
        page.status_code == 303 and page.headers["location"] == "/login" and api.status_code == 401
    )


def test_a_cookie_forged_with_the_signing_key_names_no_session(web_env: WebEnv) -> None:
    with web_env.client() as client:
        for payload in ({"user": "ana"}, {"user": "ana", "sid": "guessed"}):
            client.cookies.set(COOKIE, forged(payload))
            assert refused(client), payload


def test_a_cookie_reused_after_sign_out_is_refused_on_every_replica(web_env: WebEnv) -> None:
    with web_env.client() as one, web_env.client() as two:
        csrf = sign_in(one, "ana")
        saved = one.cookies[COOKIE]
        two.cookies.set(COOKIE, saved)
        assert two.get("/api/queue").status_code == 200  # one session, seen by both replicas
        assert one.post("/logout", data={"csrf_token": csrf}).status_code == 200
        one.cookies.set(COOKIE, saved)
        assert refused(one)
        assert refused(two)


def test_sign_out_command_ends_all_of_a_users_sessions(web_env: WebEnv) -> None:
    with web_env.client() as laptop, web_env.client() as phone, web_env.client() as ben:
        sign_in(laptop, "ana")
        sign_in(phone, "ana")
        sign_in(ben, "ben")
        assert "ended 2 session(s) of ana" in triage_web(web_env, "sign-out", "ana").output
        assert refused(laptop)
        assert refused(phone)
        assert ben.get("/api/queue").status_code == 200


def test_wrong_passwords_lock_the_user_until_an_admin_unlocks(web_env: WebEnv) -> None:
    limit = web_env.settings.login_max_failures
    with web_env.client() as client:
        for _ in range(limit):
            assert attempt(client, "ana", "wrong")[0] == 401
        status, page, retry_after = attempt(client, "ana", "wrong")
        assert status == 429
        assert retry_after is not None
        assert 0 < int(retry_after) <= web_env.settings.login_lockout_s
        assert "Try again in 15 minutes" in page
        assert attempt(client, "ana", PASSWORD)[0] == 429  # locked even with the password
        assert attempt(client, "ben", PASSWORD)[0] == 303  # the lock is the user's
        listed = triage_web(web_env, "unlock").output
        assert "user\tana\t" in listed
        assert "user ana: unlocked" in triage_web(web_env, "unlock", "--user", "ana").output
        assert attempt(client, "ana", PASSWORD)[0] == 303
        assert "was not locked" in triage_web(web_env, "unlock", "--user", "ana").output


def test_guessing_many_names_from_one_address_locks_the_address(web_env: WebEnv) -> None:
    limit = web_env.settings.login_max_failures_per_address
    with web_env.client() as client:
        for i in range(limit):
            assert attempt(client, f"name-{i}", "wrong")[0] == 401
        assert attempt(client, "ana", PASSWORD)[0] == 429
        assert "addr\ttestclient\t" in triage_web(web_env, "unlock").output
        triage_web(web_env, "unlock", "--address", "testclient")
        assert attempt(client, "ana", PASSWORD)[0] == 303


def test_a_burst_of_parallel_guesses_cannot_outrun_the_count(web_env: WebEnv) -> None:
    """The table's 20 wrong passwords in 0.7 s, sent all at once."""
    limit = web_env.settings.login_max_failures
    with web_env.client() as client:
        token = csrf_of(client.get("/login").text)
        form = {"username": "ana", "password": "wrong", "csrf_token": token}
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda _: client.post("/login", data=form).status_code, range(20))
            )
    assert codes.count(401) == limit, codes
    assert codes.count(429) == 20 - limit, codes

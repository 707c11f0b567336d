"""The web's edges (issue 10's table): guessable signing keys, oversized bodies, unbounded
echoes, cookies over plain HTTP, HSTS. Real redis and store, as the other web tests."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from pydantic import ValidationError

from tests.web.conftest import PASSWORD, USERS, WebEnv, csrf_of, sign_in
from tests.web.events import decision
from tests.web.test_cli import run
from web.settings import WebSettings

BIG = 200 * 1024 * 1024
CHUNK = 64 * 1024


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a",
        "s" * 40,
        "changeme" * 5,
        "aB3-" * 16,
        "0123456789abcdef" * 3,
        "change-me-to-a-long-random-string-please",
        "xK9#mQ2$vL7@nR4!pW8&" + "replace-this-secret",
    ],
)
def test_a_guessable_secret_key_is_refused_saying_how_to_make_one(key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        WebSettings(secret_key=key)
    message = str(refused.value)
    assert "TRIAGE_SECRET_KEY" in message
    assert "secrets.token_urlsafe(48)" in message
    assert "input_value" not in message  # never echoed, not even a bad one
    if len(key) > 8:
        assert key not in message


@pytest.mark.parametrize("make", [secrets.token_urlsafe, secrets.token_hex])
def test_random_keys_of_32_bytes_are_accepted(make: Any) -> None:
    for _ in range(200):
        WebSettings(secret_key=make(32))


@pytest.mark.integration
def test_the_web_refuses_to_start_with_a_low_entropy_key(tmp_path: Any) -> None:
    users = json.dumps({"ana": {"password_hash": USERS["ana"].password_hash}})
    weak = "s" * 40
    result = run(["web"], tmp_path, TRIAGE_SECRET_KEY=weak, TRIAGE_WEB_USERS=users, timeout_s=20)
    assert result.returncode == 2, result.stderr
    assert "TRIAGE_SECRET_KEY" in result.stderr
    assert "token_urlsafe" in result.stderr
    assert weak not in result.stderr + result.stdout


def asgi_post(client: Any, path: str, chunks: int, *, content_length: int | None) -> dict[str, Any]:
    """POSTs ``chunks`` pieces of 64 KiB straight into the app, counting how many it pulled."""
    seen = {"pulled": 0, "status": None}
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("198.51.100.7", 5000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        if seen["pulled"] >= chunks:
            return {"type": "http.disconnect"}
        seen["pulled"] += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": seen["pulled"] < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]

    async def call() -> None:
        await client.app(scope, receive, send)

    client.portal.call(call)
    return seen


@pytest.mark.integration
def test_an_oversized_body_is_refused_before_it_is_read(web_env: WebEnv) -> None:
    """The table's unauthenticated 200 MB POST: 413 from Content-Length, nothing pulled."""
    with web_env.client() as client:
        declared = asgi_post(client, "/api/decisions", BIG // CHUNK, content_length=BIG)
        assert declared == {"pulled": 0, "status": 413}
        login = asgi_post(client, "/login", BIG // CHUNK, content_length=BIG)
        assert login == {"pulled": 0, "status": 413}
        small = client.post(
            "/api/decisions", content=b"x" * (web_env.settings.web_max_body_bytes + 1)
        )
        assert small.status_code == 413
        assert "content-security-policy" in small.headers  # still under the headers


@pytest.mark.integration
def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(web_env: WebEnv) -> None:
    with web_env.client() as client:
        streamed = asgi_post(client, "/api/decisions", BIG // CHUNK, content_length=None)
    assert streamed["status"] == 413
    assert streamed["pulled"] <= web_env.settings.web_max_body_bytes // CHUNK + 1


@pytest.mark.integration
def test_no_request_value_is_echoed_back_unbounded(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    with web_env.client() as client:
        csrf = {"X-CSRF-Token": sign_in(client, "ana")}
        huge = "T" * 900_000  # under the body limit, so it reaches the route
        answers = [
            client.post("/api/decisions", json={"ticket_id": huge, "label": "fx"}, headers=csrf),
            client.post(
                "/api/decisions", json={"ticket_id": "T" * 256, "label": "fx"}, headers=csrf
            ),
            client.post(
                "/api/decisions", json={"ticket_id": "t1", "label": "L" * 200}, headers=csrf
            ),
            client.get("/api/queue", params={"n": "9" * 60_000}),
            client.get("/api/queue", params={"band": "B" * 60_000}),
            client.post("/api/decisions", json={huge: 1}, headers=csrf),
        ]
    for answer in answers:
        assert len(answer.content) < 4000, answer.text[:300]
        assert "T" * 65 not in answer.text
        assert "L" * 65 not in answer.text
    assert [a.status_code for a in answers] == [422, 404, 422, 422, 422, 422]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("bound_host", "setting", "secure"),
    [
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("127.0.0.1", None, False),
        ("::1", None, False),
        ("localhost", None, False),
        ("0.0.0.0", False, False),
        ("127.0.0.1", True, True),
    ],
)
def test_cookies_are_secure_unless_the_web_binds_loopback(
    web_env: WebEnv, bound_host: str, setting: bool | None, secure: bool
) -> None:
    settings = web_env.settings.model_copy(update={"secure_cookies": setting})
    with web_env.client(settings=settings, bound_host=bound_host, base_url="https://t") as client:
        cookie = client.get("/login").headers["set-cookie"]
        assert ("secure" in cookie.lower()) is secure, cookie
        if secure:  # and it still works over TLS
            token = client.cookies.get("triage_session")
            assert token is not None
            signed_in = client.post(
                "/login",
                data={"username": "ana", "password": PASSWORD, "csrf_token": _csrf(client)},
            )
            assert signed_in.status_code == 200


def _csrf(client: Any) -> str:
    return csrf_of(client.get("/login").text)


@pytest.mark.integration
def test_hsts_is_sent_over_tls_or_when_a_tls_proxy_is_declared(web_env: WebEnv) -> None:
    with web_env.client(base_url="https://t") as tls, web_env.client() as plain:
        assert "max-age=" in tls.get("/healthz").headers["strict-transport-security"]
        assert "strict-transport-security" not in plain.get("/healthz").headers
    proxied = web_env.settings.model_copy(update={"hsts": True})
    with web_env.client(settings=proxied) as behind_proxy:
        assert "strict-transport-security" in behind_proxy.get("/login").headers

"""Fixtures of the web tests: the app wired to a real SQLite store, the session's real redis and
broker (fresh topic prefix per test), and two users plus an API token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store import Store
from tests.fixtures.stack import StreamEnv
from web.app import Services, build_services, create_app
from web.auth import hash_password, token_digest
from web.settings import TokenEntry, UserEntry, WebSettings

PASSWORD = "correct horse battery staple"
SECRET_KEY = "Jx8kqP2vNw5rT9zLmB4cYh7dFs3gAe6uKo1iWn0tQp-V_xRj"  # shaped like token_urlsafe(36)
API_TOKEN = "test-api-token-0123456789abcdef"
USERS = {
    "ana": UserEntry(password_hash=hash_password(PASSWORD), role="reviewer"),
    "ben": UserEntry(password_hash=hash_password(PASSWORD), role="reviewer"),
    "olga": UserEntry(password_hash=hash_password(PASSWORD), role="ops"),
}
TOKENS = {"helpdesk": TokenEntry(token_sha256=token_digest(API_TOKEN), role="reviewer")}


@dataclass
class WebEnv:
    settings: WebSettings
    store: Store
    stream: StreamEnv

    def client(
        self,
        services: Services | None = None,
        *,
        settings: WebSettings | None = None,
        bound_host: str | None = None,
        base_url: str = "http://testserver",
    ) -> TestClient:
        """A client of a fresh app (its own services: two clients may be open at once, like
        two replicas sharing redis). ``settings`` replaces the test's (``model_copy``)."""
        settings = settings or self.settings
        app = create_app(
            services or build_services(settings, self.store), settings, bound_host=bound_host
        )
        return TestClient(app, base_url=base_url)


def web_settings(stream_env: StreamEnv, database_url: str, model_dir: Path) -> WebSettings:
    stack = stream_env.stack
    return WebSettings(
        kafka_bootstrap=stack.kafka_bootstrap,
        redis_url=stack.redis_url,
        database_url=database_url,
        topic_prefix=stream_env.topics.prefix,
        model_dir=model_dir,
        secret_key=SECRET_KEY,
        web_users=USERS,
        web_tokens=TOKENS,
        worker_group_id=stream_env.group_id,
    )


@pytest.fixture
def web_env(stream_env: StreamEnv, tfidf_model_dir: Path, tmp_path: Path) -> Iterator[WebEnv]:
    settings = web_settings(stream_env, f"sqlite:///{tmp_path / 'store.db'}", tfidf_model_dir)
    store = Store.open(settings.database_url)
    try:
        yield WebEnv(settings, store, stream_env)
    finally:
        store.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


def sign_in(client: TestClient, user: str) -> str:
    """Signs ``user`` in; returns the CSRF token of the new session."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"username": user, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 200, response.text  # followed the redirect
    return csrf_of(response.text)


SignIn = Callable[[TestClient, str], str]

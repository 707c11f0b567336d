"""Nothing typed on the Try page reaches the store, redis, a topic or the log: the real SQLite
store, the session's real redis and broker, compared whole before and after."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from models import read_manifest
from store.tables import Base
from tests.web.conftest import WebEnv, sign_in
from tests.web.events import decision

pytestmark = pytest.mark.integration


def store_rows(env: WebEnv) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    with env.store.session() as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def redis_contents(client: redis.Redis) -> dict[bytes, Any]:
    """Every key of the test redis and its value, whatever its type; a key that expires
    between the scan and the read (type ``none``: another test's short-lived claim) is not
    there to compare."""
    read = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
    }
    kinds = {key: client.type(key) for key in client.scan_iter(count=1000)}
    return {key: read[kind](key) for key, kind in kinds.items() if kind != b"none"}


def test_nothing_typed_is_stored_cached_published_or_logged(
    web_env: WebEnv, tfidf_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"zebra{uuid.uuid4().hex[:10]}"
    subject = f"{marker} subject"
    body = f"my card {marker} was declined twice, card 4111 1111 1111 1111, call +44 20 7946 0958"
    version = read_manifest(tfidf_model_dir).version
    web_env.store.register_candidate(version, str(tfidf_model_dir))
    web_env.store.mark_deployed(version)
    web_env.store.add_decision(decision("t1", model_version=version))  # a store with something
    client_redis = redis.Redis.from_url(web_env.settings.redis_url)
    stream = web_env.stream
    with web_env.client() as client:
        csrf = sign_in(client, "olga")
        before_store, before_redis = store_rows(web_env), redis_contents(client_redis)
        assert client.get("/try").status_code == 200
        answer = client.post(
            "/api/predict",
            json={"body": body, "subject": subject, "route": 0.5, "shadow": 0.4},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert marker in found["text"]  # the answer carries it back, redacted ...
        assert "4111" not in found["text"]
        assert "7946" not in found["text"]
        band = client.get(
            "/api/predict/band",
            params={"confidence": found["confidence"], "route": 0.5, "shadow": 0.4},
        )
        assert band.status_code == 200
        after_store, after_redis = store_rows(web_env), redis_contents(client_redis)

    # ... and nothing else does: the store is row for row what it was
    assert after_store == before_store
    assert after_store["decisions"]  # (the comparison saw rows)
    # redis gained one key, the caller's call times, which hold no text
    added = set(after_redis) - set(before_redis)
    assert len(added) == 1
    (key,) = added
    assert b"predict-rate" in key
    for name, value in after_redis.items():
        assert marker.encode() not in name + repr(value).encode(), name
        # the whole number, not "4111": another test's cached float can hold those digits
        assert b"4111 1111" not in repr(value).encode(), name
    # no topic of this test's prefix holds a message (the web only publishes corrections)
    records = stream.collect(stream.topics.all, until=lambda _r: False, timeout_s=5)
    assert records == []
    assert marker not in caplog.text
    assert "4111 1111" not in caplog.text

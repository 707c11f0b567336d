"""The drift board against a real redis-server: a key per worker, read back by every reader,
gone when the worker stops refreshing it, one deployment's board apart from another's."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from bus import DriftBoard
from schemas import DriftSummary

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"


def summary(worker: str, state: str = "stable", version: str = "v1") -> DriftSummary:
    return DriftSummary.model_validate(
        {
            "worker": worker,
            "model_version": version,
            "state": state,
            "decisions": 1000,
            "window": 1000,
            "limit": 0.2,
            "psi": {"label": 0.31 if state == "drifted" else 0.01},
        }
    )


def test_every_worker_summary_is_read_back_with_a_ttl_and_junk_is_skipped() -> None:
    namespace = f"test-drift-{uuid.uuid4().hex}."

    async def run() -> tuple[list[DriftSummary], list[DriftSummary], int, int]:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            board = DriftBoard(client, namespace=namespace, ttl_s=30)
            other = DriftBoard(client, namespace=f"other-{namespace}", ttl_s=30)
            await board.publish(summary("host-1", "stable"))
            await board.publish(summary("host-2", "drifted"))
            await board.publish(summary("host-2", "drifted"))  # a refresh, not a second entry
            await other.publish(summary("host-9", "drifted"))
            await client.set(f"{board.prefix}host-3", b"{not a summary", ex=30)
            ttl = await client.ttl(f"{board.prefix}host-1")
            found = await board.summaries()
            await client.delete(f"{board.prefix}host-1")  # as when its TTL runs out
            after = await board.summaries()
            return found, after, ttl, len(await other.summaries())
        finally:
            await client.aclose()

    found, after, ttl, others = asyncio.run(run())
    assert [(s.worker, s.state, s.stale) for s in found] == [
        ("host-1", "stable", False),
        ("host-2", "drifted", True),
    ]
    assert found[1].psi == {"label": 0.31}
    assert 0 < ttl <= 30
    assert [s.worker for s in after] == ["host-2"]
    assert others == 1


def test_a_ttl_below_one_second_is_refused() -> None:
    with pytest.raises(ValueError, match="use >= 1"):
        DriftBoard(aioredis.Redis.from_url(REDIS_URL), namespace="x.", ttl_s=0)

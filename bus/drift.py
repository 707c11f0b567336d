"""The drift board: each worker's drift summary in redis, for readers that are not the worker.

A key per worker (``triage:<prefix>drift:<worker>``) with a TTL of a few publish intervals: a
worker that stops or dies drops off the board by itself instead of showing a window that no
longer exists. Readers (the dashboard, `triage report bands`) take every live key.
"""

from __future__ import annotations

import asyncio
import logging

import redis
import redis.asyncio as aioredis
from pydantic import ValidationError

from bus.app import async_redis_client
from bus.exceptions import BusError
from bus.settings import ConnectionSettings
from schemas import DriftSummary

log = logging.getLogger(__name__)

#: how often a worker publishes its summary
DRIFT_PUBLISH_EVERY_S = 10.0
#: a summary not refreshed within this is gone (three missed publishes)
SUMMARY_TTL_S = 30


class DriftBoard:
    """The live drift summaries of one deployment's workers (``namespace``: the topic prefix)."""

    def __init__(
        self, client: aioredis.Redis, *, namespace: str, ttl_s: int = SUMMARY_TTL_S
    ) -> None:
        if ttl_s < 1:
            raise ValueError(f"a drift summary TTL of {ttl_s} s expires at once; use >= 1")
        self.client = client
        self.ttl_s = ttl_s
        self.prefix = f"triage:{namespace}drift:"

    async def publish(self, summary: DriftSummary) -> None:
        await self.client.set(
            self.prefix + summary.worker, summary.model_dump_json(), ex=self.ttl_s
        )

    async def summaries(self) -> list[DriftSummary]:
        """Every live worker's summary, by worker name; one that does not parse (a worker of
        another release) is logged and left out rather than hiding the others."""
        keys = sorted([key async for key in self.client.scan_iter(match=self.prefix + "*")])
        if not keys:
            return []
        found = []
        for key, raw in zip(keys, await self.client.mget(keys), strict=True):
            if raw is None:  # expired between the scan and the read
                continue
            try:
                found.append(DriftSummary.model_validate_json(raw))
            except ValidationError as exc:
                log.warning("ignoring the drift summary under %r: %s", key, exc.errors()[0])
        return found


def read_board(settings: ConnectionSettings) -> list[DriftSummary]:
    """The board once, for a command (`triage report bands`), through a client of its own."""

    async def read() -> list[DriftSummary]:
        client = async_redis_client(settings)
        try:
            return await DriftBoard(client, namespace=settings.topic_prefix).summaries()
        finally:
            await client.aclose()

    try:
        return asyncio.run(read())
    except redis.RedisError as exc:
        raise BusError(
            f"cannot read the workers' drift summaries from redis at {settings.redis_url} "
            f"({exc}); start redis (`triage stack up`) or set TRIAGE_REDIS_URL"
        ) from exc

"""The decision cache: dedup and idempotent publishing, with redis as the only state.

Why this order keeps "no ticket lost, duplicates only identical" under SIGKILL:

1. a decision's JSON is stored under its ticket_id (``SET NX EX``) *before* it is published;
2. it is marked published only *after* the broker acked it;
3. the source offset is committed only after that.

A kill between 1 and 2 leaves a stored, unmarked decision: the re-delivered ticket re-publishes
those exact bytes instead of classifying again (the model may have changed meanwhile). A kill
between 2 and 3 re-delivers a ticket that is marked: it is skipped. So a consumer of the band
topics sees either one decision per ticket or byte-identical copies of it.

That promise lasts as long as redis keeps the keys: for ``TRIAGE_DEDUP_TTL_SECONDS`` and across
redis restarts only with persistence on (the embedded stack and the compose file run redis with
``appendonly yes``, ``appendfsync always``, ``noeviction``). A redis that comes back *empty*
forgets every decision; a ticket delivered again after that is decided afresh (same ticket_id
and key, a new ``decided_at``, maybe a newer ``model_version``). The README says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from bus.exceptions import DecisionCacheError


@dataclass(frozen=True)
class Stored:
    payload: bytes
    published: bool


class DecisionCache:
    """Decisions by ticket_id for ``ttl_s`` seconds, plus live counters for operators."""

    def __init__(self, client: aioredis.Redis, *, namespace: str, ttl_s: int) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.counters_key = f"triage:{namespace}counters"

    def _decision_key(self, ticket_id: str) -> str:
        return f"triage:{self.namespace}decision:{ticket_id}"

    def _published_key(self, ticket_id: str) -> str:
        return f"triage:{self.namespace}published:{ticket_id}"

    async def lookup(self, ticket_ids: list[str]) -> dict[str, Stored]:
        """The stored decisions among ``ticket_ids`` (one round trip)."""
        if not ticket_ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.get(self._decision_key(ticket_id))
                pipe.exists(self._published_key(ticket_id))
            replies = await pipe.execute()
        found = {}
        for i, ticket_id in enumerate(ticket_ids):
            payload, published = replies[2 * i], replies[2 * i + 1]
            if payload is not None:
                found[ticket_id] = Stored(payload=payload, published=bool(published))
        return found

    async def claim(self, payloads: Mapping[str, bytes]) -> dict[str, bytes]:
        """Store each new decision unless one exists; returns what is stored now, per id.

        Another worker may have stored a decision for the same id in between (a rebalance): its
        bytes win, so both publish the same thing.
        """
        ids = list(payloads)
        if not ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.set(self._decision_key(ticket_id), payloads[ticket_id], nx=True, ex=self.ttl_s)
            won = await pipe.execute()
        result = {tid: payloads[tid] for tid, ok in zip(ids, won, strict=True) if ok}
        lost = [tid for tid, ok in zip(ids, won, strict=True) if not ok]
        for ticket_id, stored in (await self.lookup(lost)).items():
            result[ticket_id] = stored.payload
        missing = set(ids) - set(result)
        if missing:
            raise DecisionCacheError(
                f"redis refused to store and returned no decision for {sorted(missing)[:5]}; "
                "is redis evicting keys (maxmemory-policy)? use noeviction"
            )
        return result

    async def mark_published(self, ticket_ids: Iterable[str], counts: Mapping[str, int]) -> None:
        """After the broker ack: later re-deliveries of these ids are skipped."""
        async with self.client.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.set(self._published_key(ticket_id), b"1", ex=self.ttl_s)
            for field, n in counts.items():
                if n:
                    pipe.hincrby(self.counters_key, field, n)
            await pipe.execute()

    async def counters(self) -> dict[str, int]:
        raw = await self.client.hgetall(self.counters_key)
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

"""The review stage: the queue people work through, and their confirm/override decisions.

The web never writes the store: a decision becomes a ``Correction`` on ``tickets.corrections``
and the learner's recorder stores it. So "first reviewer wins" cannot rely on the store alone
(the recorder may not have caught up): a redis claim (``SET NX``) is taken before publishing,
and the store is checked too, for reviews made before this claim existed or through
``triage correct``. A failed publish releases the claim, so nothing is lost or locked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select

from learner import queue, registry
from learner.queue import REVIEW_BANDS, QueueItem
from learner.store import Store
from learner.tables import CorrectionRow, DecisionRow
from models.redact import redact_text
from schemas.events import Band, Correction
from web.exceptions import AlreadyReviewed, BadLabel, NotReviewable, clip
from web.publish import CorrectionPublisher

#: Deletes the claim only if it is still ours (a compare-and-delete in one round trip).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def claim_key(namespace: str, ticket_id: str) -> str:
    return f"triage:{namespace}review:{ticket_id}"


def first_reviewer(store: Store, ticket_id: str) -> str | None:
    with store.session() as session:
        return session.scalar(
            select(CorrectionRow.reviewer)
            .where(CorrectionRow.ticket_id == ticket_id)
            .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
            .limit(1)
        )


def decided(store: Store, ticket_id: str) -> tuple[str, str] | None:
    """(label, band) of the ticket's decision, if stored."""
    with store.session() as session:
        row = session.execute(
            select(DecisionRow.label, DecisionRow.band).where(DecisionRow.ticket_id == ticket_id)
        ).one_or_none()
    return (row.label, row.band) if row is not None else None


class DeployedLabels:
    """The labels a correction may name: the deployed model's (the recorder checks the same)."""

    def __init__(self, store: Store, fallback_dir: Path) -> None:
        self.store = store
        self.fallback_dir = fallback_dir
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self) -> tuple[str, ...]:
        from models.artifact import read_manifest

        record = registry.deployed(self.store)
        model_dir = Path(record.model_dir) if record is not None else self.fallback_dir
        key = str(model_dir)
        if key not in self._cache:
            self._cache[key] = tuple(read_manifest(model_dir).labels)
        return self._cache[key]


def item_json(item: QueueItem) -> dict[str, Any]:
    top = sorted(item.top_k, key=lambda s: s["probability"], reverse=True)[:3]
    return {
        "ticket_id": item.ticket_id,
        "text": item.text,
        "label": item.label,
        "confidence": item.confidence,
        "margin": item.margin,
        "band": item.band,
        "model_version": item.model_version,
        "decided_at": item.decided_at.isoformat(),
        "top3": [{"label": s["label"], "probability": s["probability"]} for s in top],
    }


@dataclass
class Reviews:
    store: Store
    redis: aioredis.Redis | None  # set when the app starts (bound to its event loop)
    publisher: CorrectionPublisher
    namespace: str
    labels: Callable[[], Collection[str]]
    claim_ttl_s: int
    per_label_cap: int

    async def queue(
        self,
        n: int,
        *,
        band: Band | None = None,
        label: str | None = None,
        model_version: str | None = None,
    ) -> list[QueueItem]:
        """``learner.queue`` order, minus tickets claimed by a reviewer but not yet recorded."""
        items = await asyncio.to_thread(
            queue.query,
            self.store,
            n + 20,
            band=band,
            label=label,
            model_version=model_version,
            per_label_cap=self.per_label_cap,
        )
        if not items:
            return []
        assert self.redis is not None, "the app is not started"
        claims = await self.redis.mget([claim_key(self.namespace, i.ticket_id) for i in items])
        return [item for item, claim in zip(items, claims, strict=True) if claim is None][:n]

    async def decide(
        self, reviewer: str, ticket_id: str, label: str, note: str | None = None
    ) -> Correction:
        """Confirm (same label) or override (another label); first reviewer wins."""
        found = await asyncio.to_thread(decided, self.store, ticket_id)
        if found is None or found[1] not in REVIEW_BANDS:
            raise NotReviewable(
                f"ticket {clip(ticket_id)!r} is not in the review queue (unknown or routed); "
                "pick one from the queue"
            )
        known = await asyncio.to_thread(self.labels)
        if label not in known:
            raise BadLabel(
                f"label {clip(label)!r} is not one of the model's labels: {sorted(known)}"
            )
        earlier = await asyncio.to_thread(first_reviewer, self.store, ticket_id)
        if earlier is not None:
            raise AlreadyReviewed(ticket_id, earlier)
        assert self.redis is not None, "the app is not started"
        key = claim_key(self.namespace, ticket_id)
        if not await self.redis.set(key, reviewer, nx=True, ex=self.claim_ttl_s):
            owner = await self.redis.get(key)
            name = owner.decode() if isinstance(owner, bytes) else owner
            raise AlreadyReviewed(ticket_id, name or "another reviewer")
        correction = Correction(
            ticket_id=ticket_id,
            label=label,
            reviewer=reviewer,
            action="confirm" if label == found[0] else "override",
            note=redact_text(note or None),  # the note travels to the topic and the store
        )
        try:
            await self.publisher.publish(correction)
        except BaseException:
            await self.redis.eval(_RELEASE, 1, key, reviewer)
            raise
        return correction

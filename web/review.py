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

import redis.asyncio as aioredis

from models import redact_text
from schemas import Band, Correction
from store import REVIEW_BANDS, QueueItem, Store
from web.exceptions import AlreadyReviewed, BadLabel, NotReviewable, clip
from web.publish import CorrectionPublisher

#: Deletes the claim only if it is still ours (a compare-and-delete in one round trip).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def claim_key(namespace: str, ticket_id: str) -> str:
    return f"triage:{namespace}review:{ticket_id}"


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
        """The store's queue order, minus tickets claimed by a reviewer but not yet recorded."""
        items = await asyncio.to_thread(
            self.store.review_queue,
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
        found = await asyncio.to_thread(self.store.decision_of, ticket_id)
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
        earlier = await asyncio.to_thread(self.store.first_reviewer, ticket_id)
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

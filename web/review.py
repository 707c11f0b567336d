"""The review stage: the queue people work through, and their confirm/override decisions.

With several heads (a team and the intent inside it) each head is reviewed on its own: a
correction names its head, "first reviewer wins" holds per head (its own claim), and a ticket
leaves the queue once its primary head is reviewed.

The web never writes the store: a decision becomes a ``Correction`` on ``tickets.corrections``
and the learner's recorder stores it. So "first reviewer wins" cannot rely on the store alone
(the recorder may not have caught up): a redis claim (``SET NX``) is taken before publishing,
and the store is checked too, for reviews made before this claim existed or through
``triage correct``. A failed publish releases the claim, so nothing is lost or locked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from models import redact_text
from schemas import CORRECTION_HEAD, Band, Correction
from store import REVIEW_BANDS, QueueItem, Store
from web.exceptions import AlreadyReviewed, BadHead, BadLabel, NotReviewable, clip
from web.publish import CorrectionPublisher

#: Deletes the claim only if it is still ours (a compare-and-delete in one round trip).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def claim_key(namespace: str, ticket_id: str, head: str = CORRECTION_HEAD) -> str:
    """The primary head's claim keeps its old key; another head's has its own prefix, so no
    ticket id can make two heads' keys collide."""
    if head == CORRECTION_HEAD:
        return f"triage:{namespace}review:{ticket_id}"
    return f"triage:{namespace}review-head:{head}:{ticket_id}"


@dataclass
class Reviews:
    store: Store
    redis: aioredis.Redis | None  # set when the app starts (bound to its event loop)
    publisher: CorrectionPublisher
    namespace: str
    labels: Callable[[], Collection[str]]
    claim_ttl_s: int
    per_label_cap: int
    #: every head, described (``DeployedLabels.describe``); None: the primary head's alone
    heads: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None

    def describe(self) -> Mapping[str, Mapping[str, Any]]:
        """Every head with its labels (GET /api/heads)."""
        if self.heads is not None:
            return self.heads()
        return {CORRECTION_HEAD: {"labels": sorted(self.labels()), "parent_head": None}}

    def head_labels(self) -> Mapping[str, Collection[str]]:
        return {name: frozenset(head["labels"]) for name, head in self.describe().items()}

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
        self,
        reviewer: str,
        ticket_id: str,
        label: str | None,
        note: str | None = None,
        head: str = CORRECTION_HEAD,
        labels: list[str] | None = None,
    ) -> Correction:
        """Confirm (same label) or override (another label) one head; first reviewer wins. A
        multi-label head is reviewed as a whole set (``labels``), confirmed if unchanged."""
        found = await asyncio.to_thread(self.store.decision_of, ticket_id)
        if found is None or found[1] not in REVIEW_BANDS:
            raise NotReviewable(
                f"ticket {clip(ticket_id)!r} is not in the review queue (unknown or routed); "
                "pick one from the queue"
            )
        decided = await self._decided(ticket_id, head, found[0])
        given = await self._checked(head, label, labels)
        earlier = await asyncio.to_thread(self.store.first_reviewer, ticket_id, head)
        if earlier is not None:
            raise AlreadyReviewed(ticket_id, earlier)
        assert self.redis is not None, "the app is not started"
        key = claim_key(self.namespace, ticket_id, head)
        if not await self.redis.set(key, reviewer, nx=True, ex=self.claim_ttl_s):
            owner = await self.redis.get(key)
            name = owner.decode() if isinstance(owner, bytes) else owner
            raise AlreadyReviewed(ticket_id, name or "another reviewer")
        correction = Correction(
            ticket_id=ticket_id,
            label=given,
            labels=labels,
            head=head,
            reviewer=reviewer,
            action="confirm" if given == decided else "override",
            note=redact_text(note or None),  # the note travels to the topic and the store
        )
        try:
            await self.publisher.publish(correction)
        except BaseException:
            await self.redis.eval(_RELEASE, 1, key, reviewer)
            raise
        return correction

    async def _checked(self, head: str, label: str | None, labels: list[str] | None) -> str:
        """The correction's ``label``: the one given, or the set as Correction.set_label; a
        multi-label head takes ``labels`` and every other head ``label``, of its own labels."""
        described = (await asyncio.to_thread(self.describe))[head]
        multi = bool(described.get("multilabel"))
        if multi != (labels is not None) or (not multi and not label):
            want = "labels (the whole set, [] for none)" if multi else "one label"
            raise BadLabel(f"head {clip(head)!r} takes {want}: send that and not the other")
        known = frozenset(described["labels"])
        for name in labels if labels is not None else [str(label)]:
            if name not in known:
                of = "" if head == CORRECTION_HEAD else f" {head!r} head's"
                raise BadLabel(
                    f"label {clip(name)!r} is not one of the model's{of} labels: {sorted(known)}"
                )
        return Correction.set_label(labels) if labels is not None else str(label)

    async def _decided(self, ticket_id: str, head: str, primary: str) -> str:
        """What ``head`` answered for the ticket, or :class:`BadHead` naming the heads."""
        heads = await asyncio.to_thread(self.head_labels)
        decided = (
            primary
            if head == CORRECTION_HEAD
            else await asyncio.to_thread(self.store.decided_head_label, ticket_id, head)
        )
        if head not in heads or decided is None:
            raise BadHead(
                f"head {clip(head)!r} is not one the deployed model gave ticket "
                f"{clip(ticket_id)!r}; use one of {sorted(heads)} (GET /api/heads), or omit "
                f"head for the primary one ({CORRECTION_HEAD!r})"
            )
        return decided

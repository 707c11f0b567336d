"""Serving: which model answers now, and how its scores become decisions.

The agent reads :meth:`ModelHolder.served` once per batch, so :meth:`ModelHolder.swap` (a single
reference assignment on the event loop) takes effect between batches and a batch is never
scored by two models, nor banded by two threshold sets. The fitted per-class thresholds live
next to the model (``thresholds.json``, :mod:`models.threshold_set`); the watcher reloads them
when their version changes, and loads them with every new model. The pointer to the deployed
model lives in redis, not in the process, so every worker (and a restarted one) serves the
same model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import redis
import redis.asyncio as aioredis

from bus import ModelPointer, read_pointer, write_pointer
from models import (
    Classifier,
    Escalation,
    FittedThresholds,
    ModelError,
    Scores,
    ThresholdOverrides,
    ThresholdSet,
    head_answers,
    head_decisions,
    load,
    read_fitted,
    redact_text,
)
from schemas import Decision, LabelScore, Ticket

log = logging.getLogger(__name__)

TOP_K = 3


class ModelHolder:
    """Owns the classifier the worker serves and its fitted thresholds; swapped whole (one
    tuple), never mutated."""

    def __init__(self, model: Classifier, fitted: FittedThresholds | None = None) -> None:
        self._served = (model, fitted)

    @property
    def current(self) -> Classifier:
        return self._served[0]

    @property
    def fitted(self) -> FittedThresholds | None:
        return self._served[1]

    def served(self) -> tuple[Classifier, FittedThresholds | None]:
        """The model and its thresholds, read together: what one batch uses."""
        return self._served

    def swap(self, model: Classifier, fitted: FittedThresholds | None = None) -> Classifier:
        """Serve ``model`` (with ``fitted``) from the next batch on; returns the model it
        replaces."""
        previous = self._served[0]
        self._served = (model, fitted)
        return previous

    def swap_thresholds(self, fitted: FittedThresholds | None) -> None:
        self._served = (self._served[0], fitted)


def fitted_or_none(model_dir: Path) -> FittedThresholds | None:
    """The set next to the model, or None (logged) when it is unreadable: the model's defaults
    then apply, and under shadow mode nothing routes, the safe side."""
    try:
        return read_fitted(model_dir)
    except ModelError as exc:
        log.error("ignoring the threshold set of %s: %s", model_dir, exc)
        return None


def load_serving(
    client: redis.Redis, namespace: str, default_dir: Path, device: str, runtime: str = "auto"
) -> ModelHolder:
    """The model the deployment points at, else ``default_dir`` (which then becomes the
    pointer), with the threshold set next to it: what the worker starts serving, so its first
    batch is banded like every later one.

    Blocking (reads weights): call it at start-up or off the event loop.
    """
    pointer = read_pointer(client, namespace)
    model_dir = pointer.model_dir if pointer is not None else default_dir
    if pointer is not None and pointer.model_dir.resolve() != default_dir.resolve():
        log.warning(
            "serving the deployed model %s from %s (redis %s), not TRIAGE_MODEL_DIR=%s",
            pointer.version,
            pointer.model_dir,
            ModelPointer.key(namespace),
            default_dir,
        )
    model = load(model_dir, device, runtime)
    if pointer is None:
        write_pointer(
            client,
            namespace,
            ModelPointer(version=model.version, model_dir=model_dir.resolve()),
            only_if_unset=True,
        )
    return ModelHolder(model, fitted_or_none(model_dir))


def unreachable_escalation(model: Classifier, escalation: Escalation) -> list[str]:
    """Heads ``TRIAGE_ESCALATE`` names that ``model`` does not have, logged as a warning: such a
    rule can never fire, which an operator must hear when the model loads, not discover from
    urgent tickets that were routed."""
    manifest = getattr(model, "manifest", None)
    missing = escalation.missing_heads(set(getattr(manifest, "heads", None) or {}))
    if missing:
        log.warning(
            "TRIAGE_ESCALATE names head(s) %s that model %s does not have, so those rules never "
            "fire: train the model with that head, or change TRIAGE_ESCALATE",
            ", ".join(missing),
            model.version,
        )
    return missing


def decide(
    model: Classifier,
    tickets: Sequence[Ticket],
    received_at: Sequence[datetime | None],
    thresholds: ThresholdOverrides,
    fitted: FittedThresholds | None = None,
) -> list[Decision]:
    """Score a batch and band each ticket. Blocking (model inference): runs in the executor.

    The thresholds are resolved against the model scoring this batch (its manifest, overridden
    where the operator set them), so a deployed model brings its own unless TRIAGE_* says
    otherwise, exactly as `triage predict` bands it; ``fitted`` (the per-class set next to the
    model) and shadow mode then apply (:meth:`models.ThresholdOverrides.resolve`).

    Personal data is redacted here, before the decision exists: it is cached in redis,
    published to a band topic and stored, and none of them may hold a card number. The model
    reads the redacted text too, as it was trained on (training data is redacted).
    """
    tickets = [
        ticket.model_copy(
            update={"subject": redact_text(ticket.subject), "body": redact_text(ticket.body)}
        )
        for ticket in tickets
    ]
    bands = thresholds.resolve(model, fitted)
    scores = model.score([ticket.text for ticket in tickets])
    rule = Banding(bands, thresholds.escalation, model.labels, model.version)
    return [rule.decide(ticket, i, scores, received_at[i]) for i, ticket in enumerate(tickets)]


@dataclass(frozen=True)
class Banding:
    """How one batch's rows become decisions: the threshold set, the escalation rule, and the
    model that scored them."""

    bands: ThresholdSet
    escalation: Escalation
    labels: list[str]
    version: str

    def decide(
        self, ticket: Ticket, i: int, scores: Scores, received_at: datetime | None
    ) -> Decision:
        order = np.argsort(-scores.proba[i])[:TOP_K]
        top = [
            LabelScore(label=self.labels[j], probability=float(scores.proba[i, j])) for j in order
        ]
        label, confidence, novel = top[0].label, top[0].probability, bool(scores.novel[i])
        band = self.bands.band(label, confidence, novel=novel)
        heads = head_decisions(scores, i, self.bands.default, novel=novel, top_k=TOP_K)
        escalated = self.escalation.fired(label, head_answers(heads))
        if escalated is not None:
            band = "manual"
        return Decision(
            ticket_id=ticket.ticket_id,
            label=label,
            confidence=confidence,
            band=band,
            top_k=top,
            model_version=self.version,
            novel=novel,
            received_at=received_at,
            subject=ticket.subject,
            body=ticket.body,
            threshold_set=self.bands.id,
            would_route=band != "routed"
            and escalated is None
            and self.bands.would_route(label, confidence, novel=novel),
            heads=heads,
            escalated=escalated,
        )


@dataclass(eq=False)
class ModelWatcher:
    """Follows the redis pointer: loads a newly deployed model off the loop, then swaps it in.

    Polling the pointer (not consuming ``models.deployed``) reaches every worker of a consumer
    group; a topic partition would reach only one. Error policy: a model that fails to load is
    logged and skipped until the pointer changes again; the worker keeps serving the model it
    has, because a bad deploy must not stop classification.
    """

    holder: ModelHolder
    client: aioredis.Redis
    _: KW_ONLY
    namespace: str
    device: str
    #: loads a model off the event loop
    executor: Executor
    runtime: str = "auto"
    #: TRIAGE_ESCALATE: checked against each model swapped in, as at start (a deploy can drop
    #: the head a rule reads)
    escalation: Escalation | None = None
    #: the version that failed to load last: not retried until the pointer names another
    _failed: str | None = field(default=None, init=False, repr=False)

    async def refresh(self) -> bool:
        """Swap if the pointer names another model; True when a swap happened."""
        raw = await self.client.get(ModelPointer.key(self.namespace))
        if raw is None:
            return False
        pointer = ModelPointer.from_json(raw)
        loop = asyncio.get_running_loop()
        if pointer.version == self.holder.current.version:
            await self._reload_thresholds(pointer.model_dir)
            return False
        if pointer.version == self._failed:
            return False
        try:
            model = await loop.run_in_executor(
                self.executor, load, pointer.model_dir, self.device, self.runtime
            )
            fitted = await loop.run_in_executor(self.executor, fitted_or_none, pointer.model_dir)
        except ModelError as exc:
            self._failed = pointer.version
            log.error(
                "deployed model %s failed to load, still serving %s: %s",
                pointer.version,
                self.holder.current.version,
                exc,
            )
            return False
        previous = self.holder.swap(model, fitted)
        log.info(
            "swapped model %s -> %s (threshold set %s)",
            previous.version,
            model.version,
            fitted.version if fitted else None,
        )
        if self.escalation is not None:
            unreachable_escalation(model, self.escalation)
        return True

    async def _reload_thresholds(self, model_dir: Path) -> None:
        """A refit (`triage thresholds fit`, the learner) of the served model's set; an
        unreadable file keeps the set in force."""
        loop = asyncio.get_running_loop()
        try:
            fitted = await loop.run_in_executor(self.executor, read_fitted, model_dir)
        except ModelError as exc:
            log.error("keeping threshold set %s: %s", _version(self.holder.fitted), exc)
            return
        if _version(fitted) != _version(self.holder.fitted):
            log.info("threshold set %s -> %s", _version(self.holder.fitted), _version(fitted))
            self.holder.swap_thresholds(fitted)


def _version(fitted: FittedThresholds | None) -> str | None:
    return fitted.version if fitted is not None else None

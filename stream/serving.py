"""Serving: which model answers now, and how its scores become decisions.

The agent reads :attr:`ModelHolder.current` once per batch, so :meth:`ModelHolder.swap` (a single
reference assignment on the event loop) takes effect between batches and a batch is never
scored by two models. The pointer to the deployed model lives in redis, not in the process, so
every worker (and a restarted one) serves the same model.
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
from models import Classifier, ModelError, ThresholdOverrides, load, redact_text
from schemas import Decision, LabelScore, Ticket

log = logging.getLogger(__name__)

TOP_K = 3


class ModelHolder:
    """Owns the classifier the worker serves; swapped whole, never mutated."""

    def __init__(self, model: Classifier) -> None:
        self._model = model

    @property
    def current(self) -> Classifier:
        return self._model

    def swap(self, model: Classifier) -> Classifier:
        """Serve ``model`` from the next batch on; returns the model it replaces."""
        previous, self._model = self._model, model
        return previous


def load_serving_model(
    client: redis.Redis, namespace: str, default_dir: Path, device: str, runtime: str = "auto"
) -> Classifier:
    """The model the deployment points at, else ``default_dir`` (which then becomes the pointer).

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
    return model


def decide(
    model: Classifier,
    tickets: Sequence[Ticket],
    received_at: Sequence[datetime | None],
    thresholds: ThresholdOverrides,
) -> list[Decision]:
    """Score a batch and band each ticket. Blocking (model inference): runs in the executor.

    The thresholds are resolved against the model scoring this batch (its manifest, overridden
    where the operator set them), so a deployed model brings its own unless TRIAGE_* says
    otherwise, exactly as `triage predict` bands it.

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
    bands = thresholds.for_model(model)
    scores = model.score([ticket.text for ticket in tickets])
    labels = model.labels
    order = np.argsort(-scores.proba, axis=1)[:, :TOP_K]
    decisions = []
    for i, ticket in enumerate(tickets):
        top = [LabelScore(label=labels[j], probability=float(scores.proba[i, j])) for j in order[i]]
        novel = bool(scores.novel[i])
        confidence = top[0].probability
        decisions.append(
            Decision(
                ticket_id=ticket.ticket_id,
                label=top[0].label,
                confidence=confidence,
                band=bands.band(confidence, novel=novel),
                top_k=top,
                model_version=model.version,
                novel=novel,
                received_at=received_at[i],
                subject=ticket.subject,
                body=ticket.body,
            )
        )
    return decisions


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
    #: the version that failed to load last: not retried until the pointer names another
    _failed: str | None = field(default=None, init=False, repr=False)

    async def refresh(self) -> bool:
        """Swap if the pointer names another model; True when a swap happened."""
        raw = await self.client.get(ModelPointer.key(self.namespace))
        if raw is None:
            return False
        pointer = ModelPointer.from_json(raw)
        if pointer.version in (self.holder.current.version, self._failed):
            return False
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(
                self.executor, load, pointer.model_dir, self.device, self.runtime
            )
        except ModelError as exc:
            self._failed = pointer.version
            log.error(
                "deployed model %s failed to load, still serving %s: %s",
                pointer.version,
                self.holder.current.version,
                exc,
            )
            return False
        previous = self.holder.swap(model)
        log.info("swapped model %s -> %s", previous.version, model.version)
        return True

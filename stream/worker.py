"""`triage worker`: wires the settings into the faust app, the served model, redis and the agent.

The only place that turns settings into objects; everything below takes typed arguments.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import redis
import redis.asyncio as aioredis

from bus import (
    DRIFT_PUBLISH_EVERY_S,
    AckedProducer,
    DecisionCache,
    DriftBoard,
    Send,
    TopicGuard,
    async_redis_client,
    faust_app,
    faust_worker,
    install_batch_agent,
    install_probes,
    producer_config,
    raw_topic,
    redis_client,
    redis_ping,
    topic_guard,
)
from models import ModelMissing, ThresholdOverrides
from schemas import Topics
from stream.agents import STAGE, ClassifyStage
from stream.drift import DriftWatch
from stream.exceptions import StreamError
from stream.metrics import WorkerMetrics
from stream.serving import ModelHolder, ModelWatcher, load_serving, unreachable_escalation
from stream.settings import WorkerSettings

log = logging.getLogger(__name__)


def first_model(settings: WorkerSettings) -> ModelHolder:
    """The model (and its thresholds) to serve from the first batch: the deployed one, else
    TRIAGE_MODEL_DIR."""
    try:
        with redis_client(settings) as sync_client:
            return load_serving(
                sync_client,
                settings.topic_prefix,
                settings.model_dir,
                settings.device,
                settings.runtime,
            )
    except redis.ConnectionError as exc:
        raise StreamError(
            f"cannot reach redis at {settings.redis_url} ({exc}); start the embedded stack "
            "with `triage stack up` or set TRIAGE_REDIS_URL"
        ) from exc
    except ModelMissing as exc:
        raise StreamError(
            f"no model to serve: {exc}. Run `triage init` once for this deployment (it trains "
            "or imports the first model), or point TRIAGE_MODEL_DIR at a `triage train` output"
        ) from exc


def build_worker(settings: WorkerSettings, *, loglevel: str = "info") -> faust.Worker:
    topics = Topics(settings.topic_prefix)
    holder = first_model(settings)
    model = holder.current
    log.info("serving model %s (%d labels)", model.version, len(model.labels))
    thresholds = ThresholdOverrides.from_settings(settings)
    unreachable_escalation(model, thresholds.escalation)
    client = async_redis_client(settings)
    stage = ClassifyStage(
        holder=holder,
        cache=DecisionCache(
            client, namespace=settings.topic_prefix, ttl_s=settings.dedup_ttl_seconds
        ),
        thresholds=thresholds,
        max_body_bytes=settings.max_body_bytes,
        max_message_bytes=settings.max_message_bytes,
        topics=topics,
        # one thread: the model is not re-entrant, and a second batch must not overtake the first
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify"),
    )
    app = faust_app(settings.group_id, settings)
    guard = topic_guard(settings, [*topics.bands, topics.dead_letter])
    producer = AckedProducer(producer_config(settings), recover=guard.recover)

    async def before_batch() -> None:
        # The output topics are checked against the broker every few seconds: a broker that
        # came back empty gets them back (or stops the worker) before anything is counted.
        await producer.start()
        await guard.ensure_due()

    drift = DriftWatch(settings.drift_window, settings.drift_psi_limit)
    metrics = WorkerMetrics(drift=drift)
    install_classify(
        app,
        stage,
        metrics=metrics,
        send=producer.send,
        before_batch=before_batch,
        partitions=settings.partitions,
        batch_max=settings.batch_max,
        window_s=settings.batch_window_s,
    )
    watcher = ModelWatcher(
        holder,
        client,
        namespace=settings.topic_prefix,
        device=settings.device,
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load"),
        runtime=settings.runtime,
        escalation=thresholds.escalation,
    )
    app.timer(settings.model_poll_s)(watcher.refresh)
    board = DriftBoard(client, namespace=topics.prefix)
    app.timer(DRIFT_PUBLISH_EVERY_S)(drift_publisher(drift, board))
    install_worker_probes(app, metrics, client=client, guard=guard, holder=holder)
    return faust_worker(app, "worker", settings, loglevel)


def drift_publisher(drift: DriftWatch, board: DriftBoard) -> Callable[[], Awaitable[None]]:
    """The timer that puts this worker's drift summary on the board (for the dashboard and
    `triage report bands`); redis down is logged, not raised: deciding goes on without it."""
    worker = f"{socket.gethostname()}-{os.getpid()}"

    async def publish() -> None:
        summary = drift.summary(worker)
        if summary is None:
            return
        try:
            await board.publish(summary)
        except redis.RedisError as exc:
            log.warning("cannot publish the drift summary to redis (%s); retrying", exc)

    return publish


def install_worker_probes(
    app: faust.App,
    metrics: WorkerMetrics,
    *,
    client: aioredis.Redis,
    guard: TopicGuard,
    holder: ModelHolder,
) -> None:
    """``/readyz``: redis, the broker and the served model answer; ``/metrics``: this worker."""

    async def model_ready() -> str:
        return holder.current.version

    async def before_scrape() -> None:
        await metrics.refresh(app.consumer, lambda: holder.current.version)

    install_probes(
        app,
        checks={"redis": redis_ping(client), "broker": guard.reachable, "model": model_ready},
        registry=metrics.registry,
        before_scrape=before_scrape,
    )


def install_classify(
    app: faust.App,
    stage: ClassifyStage,
    *,
    metrics: WorkerMetrics | None = None,
    send: Send,
    partitions: int,
    batch_max: int,
    window_s: float,
    before_batch: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Register the classify agent: raw bytes in, acked raw bytes out (through ``send``).

    ``metrics`` count a batch only once ``stage.process`` returned, i.e. after every ack."""

    async def handle(events: Any) -> Any:
        try:
            outcome = await stage.process(events, send)
        except Exception as exc:
            if metrics is not None:
                metrics.failed(exc)
            raise
        if metrics is not None:
            metrics.observe(outcome)
        return outcome

    return install_batch_agent(
        app,
        raw_topic(app, stage.topics.incoming, partitions),
        name=STAGE,
        handle=handle,
        batch_max=batch_max,
        window_s=window_s,
        before_batch=before_batch,
    )


def run(settings: WorkerSettings, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; a crash exits non-zero with the original traceback."""
    build_worker(settings, loglevel=loglevel).execute_from_commandline()

"""`triage worker`: wires the settings into the faust app, the served model, redis and the agent.

The only place that turns settings into objects; everything below takes typed arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import redis

from bus import (
    AckedProducer,
    DecisionCache,
    Send,
    async_redis_client,
    faust_app,
    install_batch_agent,
    producer_config,
    raw_topic,
    redis_client,
    topic_guard,
)
from models.bands import ThresholdOverrides
from schemas.topics import Topics
from stream.agents import STAGE, ClassifyStage
from stream.exceptions import StreamError
from stream.serving import ModelHolder, ModelWatcher, load_serving_model
from stream.settings import WorkerSettings

log = logging.getLogger(__name__)


def build_worker(settings: WorkerSettings, *, loglevel: str = "info") -> faust.Worker:
    topics = Topics(settings.topic_prefix)
    try:
        with redis_client(settings) as sync_client:
            model = load_serving_model(
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
    log.info("serving model %s (%d labels)", model.version, len(model.labels))
    holder = ModelHolder(model)
    client = async_redis_client(settings)
    stage = ClassifyStage(
        holder=holder,
        cache=DecisionCache(
            client, namespace=settings.topic_prefix, ttl_s=settings.dedup_ttl_seconds
        ),
        thresholds=ThresholdOverrides.from_settings(settings),
        max_body_bytes=settings.max_body_bytes,
        max_message_bytes=settings.max_message_bytes,
        topics=topics,
        # one thread: the model is not re-entrant, and a second batch must not overtake the first
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify"),
    )
    app = faust_app(settings.group_id, settings, web_port=settings.web_port)
    guard = topic_guard(settings, [*topics.bands, topics.dead_letter])
    producer = AckedProducer(producer_config(settings), recover=guard.recover)

    async def before_batch() -> None:
        # The output topics are checked against the broker every few seconds: a broker that
        # came back empty gets them back (or stops the worker) before anything is counted.
        await producer.start()
        await guard.ensure_due()

    install_classify(
        app,
        stage,
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
    )
    app.timer(settings.model_poll_s)(watcher.refresh)
    return faust.Worker(app, loglevel=loglevel)


def install_classify(
    app: faust.App,
    stage: ClassifyStage,
    *,
    send: Send,
    partitions: int,
    batch_max: int,
    window_s: float,
    before_batch: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Register the classify agent: raw bytes in, acked raw bytes out (through ``send``)."""

    async def handle(events: Any) -> Any:
        return await stage.process(events, send)

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

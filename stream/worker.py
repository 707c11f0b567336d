"""`triage worker`: wires the settings into the faust app, the served model, redis and the agent.

The only place that turns settings into objects; everything below takes typed arguments.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import faust
import redis
import redis.asyncio as aioredis

from models.bands import Thresholds
from schemas.topics import Topics
from stream.agents import ClassifyStage, install_classify
from stream.app import create_app
from stream.dedup import DecisionStore
from stream.exceptions import StreamError
from stream.serving import ModelHolder, ModelWatcher, load_serving_model
from stream.settings import WorkerSettings

log = logging.getLogger(__name__)


def build_worker(settings: WorkerSettings, *, loglevel: str = "info") -> faust.Worker:
    topics = Topics(settings.topic_prefix)
    try:
        with redis.Redis.from_url(settings.redis_url) as sync_client:
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
    client = aioredis.Redis.from_url(settings.redis_url)
    stage = ClassifyStage(
        holder=holder,
        store=DecisionStore(
            client, namespace=settings.topic_prefix, ttl_s=settings.dedup_ttl_seconds
        ),
        thresholds=Thresholds(settings.route_threshold, settings.shadow_threshold),
        max_body_bytes=settings.max_body_bytes,
        topics=topics,
        # one thread: the model is not re-entrant, and a second batch must not overtake the first
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify"),
    )
    app = create_app(settings)
    install_classify(
        app,
        stage,
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


def run(settings: WorkerSettings, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; a crash exits non-zero with the original traceback."""
    build_worker(settings, loglevel=loglevel).execute_from_commandline()

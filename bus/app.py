"""Clients built from settings: the faust app, the acked producer, the topic guard and redis.

Every service builds its broker and redis clients here and nowhere else, so a security setting
or a profile workaround can never reach one client and miss another.

faust settings that matter, and why:

- ``processing_guarantee="at_least_once"``: tansu cannot do idempotent/transactional producers,
  and the outputs are idempotent by key instead (:mod:`bus.decisions`), which works everywhere.
- no tables (``store="memory://"``): faust 0.15.3 can drop buffered events during table
  recovery; critical state is in redis.
- embedded profile only: the fetch-wait override (:mod:`bus.transport`), one record per
  producer batch, replication 1, a 6 s session timeout (tansu answers JoinGroup after half).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
import redis
import redis.asyncio as aioredis

from bus.logs import logging_config
from bus.producer import ProducerConfig
from bus.security import KafkaSecurity, redis_options
from bus.settings import ConnectionSettings, FaustServiceSettings
from bus.topics import TopicGuard
from bus.transport import App


def producer_config(settings: ConnectionSettings) -> ProducerConfig:
    linger = getattr(settings, "producer_linger_ms", 5)
    return ProducerConfig(
        bootstrap=settings.kafka_bootstrap,
        security=KafkaSecurity.from_settings(settings),
        linger_ms=linger,
        one_record_per_batch=settings.broker_profile == "embedded",
    )


def topic_guard(settings: FaustServiceSettings, names: Sequence[str]) -> TopicGuard:
    return TopicGuard(
        bootstrap=settings.kafka_bootstrap,
        security=KafkaSecurity.from_settings(settings),
        names=list(names),
        partitions=settings.partitions,
        replication=settings.replication,
        create=settings.topic_create,
        # tansu comes back from a restart with no topics, and a topic it auto-creates on a
        # client's metadata request refuses concurrent produces (AlreadyExists on its batch
        # path): on the embedded broker the guard creates them before every batch's sends.
        interval_s=0.0 if settings.broker_profile == "embedded" else 5.0,
    )


def faust_app(app_id: str, settings: FaustServiceSettings) -> faust.App:
    """Every faust service of the project (worker, learner) is configured here, once.

    faust's web server is on only with ``TRIAGE_PROBE_PORT``: it serves the probes
    (:mod:`bus.probes`) and nothing else."""
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = settings.broker_profile == "embedded"
    options: dict[str, Any] = dict(
        broker=brokers,
        broker_credentials=KafkaSecurity.from_settings(settings).faust_credentials(),
        store="memory://",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
        topic_replication_factor=settings.replication,
        topic_partitions=settings.partitions,
        topic_allow_declare=settings.topic_create,
        topic_disable_leader=True,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.data_dir / app_id),
        autodiscover=False,
        web_enabled=settings.probe_port is not None,
        web_port=settings.probe_port or 6066,
        web_bind=settings.probe_host,
    )
    if embedded:
        options["producer_max_batch_size"] = 1
    else:
        options["producer_linger"] = settings.producer_linger_ms / 1000
    wait = settings.fetch_wait_ms
    if wait is not None:
        return App(app_id, fetch_max_wait_ms=wait, **options)
    return faust.App(app_id, **options)


def faust_worker(
    app: faust.App, service: str, settings: ConnectionSettings, loglevel: str
) -> faust.Worker:
    """The process around a faust app, logging in the format the settings ask for."""
    json_logs = settings.log_format == "json"
    return faust.Worker(
        app,
        loglevel=loglevel,
        logging_config=logging_config(service, settings.log_format, loglevel),
        quiet=json_logs,  # the start-up banner is not a log record
    )


def redis_client(settings: ConnectionSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **redis_options(settings))


def async_redis_client(settings: ConnectionSettings) -> aioredis.Redis:
    return aioredis.Redis.from_url(settings.redis_url, **redis_options(settings))

"""The faust app: configured for at-least-once delivery against tansu or production Kafka.

Settings that matter, and why (measured, see docs / shared notes):

- ``processing_guarantee="at_least_once"``: tansu cannot do idempotent/transactional producers;
  outputs are made idempotent by key instead (:mod:`stream.dedup`).
- ``broker_session_timeout`` ~6 s: tansu answers JoinGroup after half the session timeout.
- ``fetch_max_wait_ms`` (:mod:`stream.transport`): tansu holds a fetch for the full wait.
- ``producer_max_batch_size=1``: one record per batch sidesteps tansu's ListOffsets bug.
- no tables: faust 0.15.3 can drop buffered events during table recovery; critical state is in
  redis.
"""

from __future__ import annotations

import faust

from ops.settings import FaustServiceSettings
from stream.settings import WorkerSettings
from stream.transport import App


def create_app(settings: WorkerSettings) -> faust.App:
    """The classify worker's app."""
    return faust_app(settings.group_id, settings, web_port=settings.web_port)


def faust_app(
    app_id: str, settings: FaustServiceSettings, *, web_port: int | None = None
) -> faust.App:
    """Every faust service of the project (worker, learner) is configured here, once."""
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return App(
        app_id,
        fetch_max_wait_ms=settings.broker_fetch_wait_ms,
        broker=brokers,
        store="memory://",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_session_timeout_s / 3,
        topic_replication_factor=1,
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        producer_max_batch_size=1,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.data_dir / app_id),
        autodiscover=False,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind="127.0.0.1",
    )

"""Deploying a model: the registry first, then the redis pointer, then the announcement.

Order matters. The registry is the record of truth, so it changes first (and refuses a
rejected model). Workers follow the redis pointer (``stream.serving.ModelWatcher``), so setting
it is what makes them swap. The ``models.deployed`` event tells everything else (dashboards,
audit, a worker that listens instead of polling). A crash between steps is repaired by
deploying the same version again: every step is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bus import (
    ConnectionSettings,
    KafkaSecurity,
    ModelPointer,
    ProducerConfig,
    PublishFailed,
    producer_config,
    publish_once,
    write_pointer,
)
from bus.security import redis_options
from learner import registry
from learner.exceptions import LearnerError
from schemas.events import ModelDeployed
from schemas.topics import Topics

if TYPE_CHECKING:
    from learner.store import Store

log = logging.getLogger(__name__)


class DeployError(LearnerError):
    """A deployment could not be announced (broker or redis unreachable)."""


@dataclass(frozen=True)
class Announcer:
    """Where a deployment is announced: the redis model pointer and the deployed topic.

    ``producer`` and ``redis_options`` carry the connection's security (``from_settings``);
    the defaults are a plaintext connection, which is what tests and the embedded stack use.
    """

    kafka_bootstrap: str
    redis_url: str
    topics: Topics
    producer: ProducerConfig | None = None
    redis_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: ConnectionSettings, topics: Topics) -> Announcer:
        return cls(
            settings.kafka_bootstrap,
            settings.redis_url,
            topics,
            producer=producer_config(settings),
            redis_options=redis_options(settings),
        )

    def announce(self, event: ModelDeployed) -> None:
        self.point(event.version, Path(event.model_dir))
        self.publish(event)

    def point(self, version: str, model_dir: Path) -> None:
        import redis

        try:
            with redis.Redis.from_url(self.redis_url, **self.redis_options) as client:
                write_pointer(
                    client,
                    self.topics.prefix,
                    ModelPointer(version=version, model_dir=model_dir.resolve()),
                    only_if_unset=False,
                )
        except redis.ConnectionError as exc:
            raise DeployError(
                f"cannot reach redis at {self.redis_url} ({exc}); the registry says {version} is "
                "deployed but workers were not told: start redis and deploy it again"
            ) from exc

    def publish(self, event: ModelDeployed) -> None:
        config = self.producer or ProducerConfig(self.kafka_bootstrap, KafkaSecurity())
        try:
            publish_once(config, self.topics.deployed, event.version, event.model_dump_json())
        except PublishFailed as exc:
            raise DeployError(str(exc)) from exc


def deploy(
    store: Store,
    announcer: Announcer,
    version: str,
    *,
    gate_report: dict[str, Any] | None = None,
    reason: Literal["deploy", "initial"] = "deploy",
) -> ModelDeployed:
    """Make a candidate that passed its gates the served model."""
    previous = registry.deployed(store)
    record = registry.mark_deployed(store, version, gate_report=gate_report)
    event = ModelDeployed(
        version=record.version,
        model_dir=str(Path(record.model_dir).resolve()),
        previous_version=previous.version if previous and previous.version != version else None,
        reason=reason,
    )
    announcer.announce(event)
    log.info("deployed model %s (was %s)", version, event.previous_version)
    return event


def rollback(store: Store, announcer: Announcer, version: str) -> ModelDeployed:
    """Serve an earlier deployed version again, announced with reason ``rollback``."""
    previous = registry.deployed(store)
    record = registry.rollback(store, version)
    event = ModelDeployed(
        version=record.version,
        model_dir=str(Path(record.model_dir).resolve()),
        previous_version=previous.version if previous and previous.version != version else None,
        reason="rollback",
    )
    announcer.announce(event)
    log.warning("rolled back to model %s (was %s)", version, event.previous_version)
    return event


def adopt(store: Store, announcer: Announcer, model_dir: Path) -> registry.ModelRecord:
    """Register an existing model directory as the deployed one when nothing is deployed yet.

    This is how a fresh deployment starts: the model a person trained with ``triage train``
    becomes the first version the learner improves on.
    """
    from models.artifact import read_manifest

    current = registry.deployed(store)
    if current is not None:
        return current
    manifest = read_manifest(model_dir)
    known = {r.version for r in registry.list_versions(store)}
    if manifest.version not in known:
        registry.register_candidate(
            store, manifest.version, str(model_dir.resolve()), metrics=manifest.metrics or None
        )
    deploy(store, announcer, manifest.version, reason="initial")
    record = registry.deployed(store)
    assert record is not None
    return record

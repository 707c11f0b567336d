"""Deploying a model: the registry first, then the redis pointer, then the announcement.

Order matters. The registry is the record of truth, so it changes first (and refuses a
rejected model). Workers follow the redis pointer (``stream.serving.ModelWatcher``), so setting
it is what makes them swap. The ``models.deployed`` event tells everything else (dashboards,
audit, a worker that listens instead of polling). A crash between steps is repaired by
deploying the same version again: every step is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from learner import registry
from learner.exceptions import LearnerError
from schemas.events import ModelDeployed
from schemas.topics import Topics

if TYPE_CHECKING:
    from learner.store import Store

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 30.0


class DeployError(LearnerError):
    """A deployment could not be announced (broker or redis unreachable)."""


@dataclass(frozen=True)
class Announcer:
    """Where a deployment is announced: the redis model pointer and the deployed topic."""

    kafka_bootstrap: str
    redis_url: str
    topics: Topics

    def announce(self, event: ModelDeployed) -> None:
        self.point(event.version, Path(event.model_dir))
        self.publish(event)

    def point(self, version: str, model_dir: Path) -> None:
        import redis

        from stream.serving import ModelPointer, write_pointer

        try:
            with redis.Redis.from_url(self.redis_url) as client:
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
        publish(self.kafka_bootstrap, self.topics.deployed, event.version, event.model_dump_json())


def publish(bootstrap: str, topic: str, key: str, value: str) -> None:
    """Publish one event and wait for the broker's ack; an unacked event is an error."""
    from confluent_kafka import KafkaException, Producer

    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    try:
        producer.produce(
            topic, value=value.encode("utf-8"), key=key.encode("utf-8"), on_delivery=delivered
        )
    except KafkaException as exc:
        errors.append(str(exc))
    left = producer.flush(PUBLISH_TIMEOUT_S)
    if errors or left:
        raise DeployError(
            f"could not publish to {topic} at {bootstrap}: {errors or 'timed out'}; check that "
            "the broker runs (`triage stack up`, TRIAGE_KAFKA_BOOTSTRAP) and try again"
        )


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

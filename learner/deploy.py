"""Deploying a model: the registry first, then the redis pointer, then the announcement.

Order matters. The registry is the record of truth, so it changes first (and refuses a
rejected model). Workers follow the redis pointer (``stream.serving.ModelWatcher``), so setting
it is what makes them swap. The ``models.deployed`` event tells everything else (dashboards,
audit, a worker that listens instead of polling). A crash between steps is repaired by
deploying the same version again: every step is idempotent.

One deployer at a time: registry change and announcement run under a redis lock
(``triage:<prefix>lock:deploy``, :class:`bus.RedisLock`). Two learners started by mistake
would otherwise interleave, the registry naming one version and the pointer another, each
event's ``previous_version`` wrong. Under the lock the second deploy waits, then sees the
first one's result. ``run_exclusively`` does the same for a whole training run.

Before the pointer moves, the per-class route thresholds are refitted from every review so far
and written next to the model (:mod:`learner.thresholds`), so workers swap in the model and
its thresholds together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bus import (
    ConnectionSettings,
    KafkaSecurity,
    ModelPointer,
    ProducerConfig,
    PublishFailed,
    RedisLock,
    producer_config,
    publish_once,
    redis_options,
    write_pointer,
)
from learner.exceptions import LearnerError
from learner.thresholds import ThresholdPolicy, refit
from schemas import ModelDeployed, Topics
from store import ModelRecord

if TYPE_CHECKING:
    from store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeployError(LearnerError):
    """A deployment could not be announced (broker or redis unreachable)."""


class DeployBusy(DeployError):
    """Another learner held the lock for as long as this one would wait."""


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
    #: How long a learner that died mid-deploy blocks the next one (renewed while alive).
    lock_ttl_ms: int = 30_000
    #: How long a deploy waits for another one to finish: a deploy takes seconds.
    lock_wait_s: float = 120.0
    #: how each deployed model's per-class thresholds are fitted (None: not fitted)
    thresholds: ThresholdPolicy | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ConnectionSettings,
        topics: Topics,
        thresholds: ThresholdPolicy | None = None,
    ) -> Announcer:
        return cls(
            settings.kafka_bootstrap,
            settings.redis_url,
            topics,
            producer=producer_config(settings),
            redis_options=redis_options(settings),
            thresholds=thresholds,
        )

    def lock_key(self, name: str) -> str:
        return f"triage:{self.topics.prefix}lock:{name}"

    @contextmanager
    def exclusive(
        self, name: str = "deploy", *, wait_s: float | None = None
    ) -> Iterator[RedisLock]:
        """Hold ``lock_key(name)`` for the block; nothing has changed yet if this raises."""
        import redis

        client = redis.Redis.from_url(self.redis_url, **self.redis_options)
        lock = RedisLock(
            client,
            self.lock_key(name),
            ttl_ms=self.lock_ttl_ms,
            wait_s=self.lock_wait_s if wait_s is None else wait_s,
        )
        try:
            try:
                got = lock.acquire()
            except redis.ConnectionError as exc:
                raise DeployError(
                    f"cannot reach redis at {self.redis_url} to take {lock.key} ({exc}); "
                    "nothing was changed: start redis and run it again"
                ) from exc
            if not got:
                raise DeployBusy(
                    f"{lock.key} is held by {lock.holder() or 'nobody (just freed)'} after "
                    f"{lock.wait_s:g} s: another learner is deploying or training. Run one "
                    f"learner replica; a holder that died frees it within {lock.ttl_ms / 1000:g} s"
                )
            try:
                yield lock
            finally:
                _release(lock)
        finally:
            client.close()

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
    """Make a candidate that passed its gates the served model (waits for another deploy)."""
    with announcer.exclusive("deploy") as lock:
        return _deploy_held(store, announcer, lock, version, gate_report, reason)


def _deploy_held(
    store: Store,
    announcer: Announcer,
    lock: RedisLock,
    version: str,
    gate_report: dict[str, Any] | None,
    reason: Literal["deploy", "initial"],
) -> ModelDeployed:
    previous = store.deployed_model()
    record = store.mark_deployed(version, gate_report=gate_report)
    _refit(store, announcer, record)
    event = ModelDeployed(
        version=record.version,
        model_dir=str(Path(record.model_dir).resolve()),
        previous_version=previous.version if previous and previous.version != version else None,
        reason=reason,
    )
    _announce_held(announcer, lock, event)
    log.info("deployed model %s (was %s)", version, event.previous_version)
    return event


def rollback(store: Store, announcer: Announcer, version: str) -> ModelDeployed:
    """Serve an earlier deployed version again, announced with reason ``rollback``."""
    with announcer.exclusive("deploy") as lock:
        previous = store.deployed_model()
        record = store.roll_back_to(version)
        _refit(store, announcer, record)
        event = ModelDeployed(
            version=record.version,
            model_dir=str(Path(record.model_dir).resolve()),
            previous_version=previous.version if previous and previous.version != version else None,
            reason="rollback",
        )
        _announce_held(announcer, lock, event)
    log.warning("rolled back to model %s (was %s)", version, event.previous_version)
    return event


def _refit(store: Store, announcer: Announcer, record: ModelRecord) -> None:
    """The deployed model's threshold set. A set that cannot be written is logged, not fatal:
    workers then band with the defaults (under shadow mode: nothing routes, the safe side)."""
    from models import ModelError

    if announcer.thresholds is None:
        return
    try:
        refit(store, announcer.thresholds, Path(record.model_dir), record.version)
    except (ModelError, OSError) as exc:
        log.error("no threshold set fitted for %s: %s", record.version, exc)


def _announce_held(announcer: Announcer, lock: RedisLock, event: ModelDeployed) -> None:
    """Announce only while the lock is still ours: a learner that stalled past the TTL must
    not move the pointer over a newer deploy (the registry change is repaired by redeploying)."""
    if not lock.renew():
        raise DeployError(
            f"lost {lock.key} before announcing {event.version} (stalled past "
            f"{lock.ttl_ms / 1000:g} s?); the registry says {event.version} is deployed but "
            f"workers were not told: check `triage models list`, then deploy it again"
        )
    announcer.announce(event)


def run_exclusively(announcer: Announcer, run: Callable[[], T | None]) -> T | None:
    """``run()`` under the training lock, or None at once if another learner holds it.

    Skipping (not waiting) is right for a training run: the other learner is consuming the
    same corrections, and the next trigger poll sees whether any are still due.
    """
    entered = False
    try:
        with announcer.exclusive("training", wait_s=0):
            entered = True
            return run()
    except DeployBusy as exc:
        if entered:  # the run's own deploy gave up waiting: a failure, not a skip
            raise
        log.warning("not training now: %s", exc)
        return None


def _release(lock: RedisLock) -> None:
    import redis

    try:
        if not lock.release():
            log.error("%s expired before release: another learner may have deployed", lock.key)
    except redis.RedisError as exc:
        log.warning("could not release %s (%r); it expires in %d ms", lock.key, exc, lock.ttl_ms)


def adopt(store: Store, announcer: Announcer, model_dir: Path) -> ModelRecord:
    """Register an existing model directory as the deployed one when nothing is deployed yet.

    This is how a fresh deployment starts: the model a person trained with ``triage train``
    becomes the first version the learner improves on.
    """
    from models import read_manifest

    current = store.deployed_model()
    if current is not None:  # the usual start: no lock (and no redis) needed
        return current
    with announcer.exclusive("deploy") as lock:  # two learners starting at once adopt once
        current = store.deployed_model()
        if current is not None:
            return current
        manifest = read_manifest(model_dir)
        known = {r.version for r in store.model_versions()}
        if manifest.version not in known:
            store.register_candidate(
                manifest.version, str(model_dir.resolve()), metrics=manifest.metrics or None
            )
        _deploy_held(store, announcer, lock, manifest.version, None, "initial")
    record = store.deployed_model()
    assert record is not None
    return record

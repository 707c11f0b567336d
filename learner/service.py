"""`triage learner`: the recorder agents and the retrain trigger in one long-running service.

The only place LearnerSettings become objects. The faust app is configured like the worker's,
by the same factory (``bus.faust_app`` explains each setting and what each broker profile sets).

Training runs on its own thread so the recorder keeps consuming (and heartbeating) while a
candidate trains; one run at a time. A store outage pauses both halves instead of crashing the
service: the recorder retries (``TRIAGE_STORE_RETRY_S``), the trigger skips a poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import faust

from bus import (
    AckedProducer,
    async_redis_client,
    faust_app,
    faust_worker,
    install_probes,
    producer_config,
    redis_ping,
    topic_guard,
)
from learner.deploy import Announcer, adopt, run_exclusively
from learner.exceptions import LearnerError
from learner.metrics import LearnerMetrics
from learner.recorder import RecordStage, StoreRetry, install_recorder
from learner.settings import LearnerSettings
from learner.trigger import RetrainTrigger, RunResult
from schemas import Topics
from store import DeployedLabels, Store, brief_error, database_unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


def create_app(settings: LearnerSettings) -> faust.App:
    """The learner's app: the same broker settings as the worker's (see :mod:`bus.app`)."""
    return faust_app(settings.group_id, settings)


def build(settings: LearnerSettings, *, loglevel: str = "info") -> faust.Worker:
    from models import load_pack

    topics = Topics(settings.topic_prefix)
    store = Store.open(settings.database_url)
    announcer = Announcer.from_settings(settings, topics, settings.threshold_policy())
    if settings.model_dir.is_dir():
        adopt(store, announcer, settings.model_dir)
    elif store.deployed_model() is None:
        raise LearnerError(
            f"no model is deployed and TRIAGE_MODEL_DIR={settings.model_dir} does not exist: "
            "run `triage init` once for this deployment (it trains or imports the first model)"
        )
    if not (settings.gold_dir / "train.jsonl").is_file():
        log.warning(
            "no gold set in %s (TRIAGE_GOLD_DIR): decisions and corrections are recorded, but "
            "no retrain can run until `triage init --gold FILE` writes one",
            settings.gold_dir,
        )
    learner = RetrainTrigger(
        store=store,
        announcer=announcer,
        gold_dir=settings.gold_dir,
        registry_dir=settings.registry_dir,
        pack=load_pack(settings.eval_pack),
        gates=settings.gate_rule(),
        retrain_after=settings.retrain_after,
        holdout_share=settings.correction_holdout,
        backend=settings.backend,
        device=settings.device,
        pseudo_from_routed=settings.pseudo_from_routed,
    )
    app = create_app(settings)
    stage = RecordStage(
        store=store,
        topics=topics,
        labels=DeployedLabels(store, settings.model_dir).heads,
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="record"),
        retry=StoreRetry(give_up_s=settings.store_retry_s),
        hold=settings.hold_rule(),
    )
    install_recorder(
        app,
        stage,
        producer=AckedProducer(producer_config(settings)),
        partitions=settings.partitions,
    )
    metrics = LearnerMetrics()
    install_trigger(app, learner, settings.trigger_poll_s, metrics)
    install_learner_probes(app, settings, store, metrics, topics)
    return faust_worker(app, "learner", settings, loglevel)


def install_learner_probes(
    app: faust.App,
    settings: LearnerSettings,
    store: Store,
    metrics: LearnerMetrics,
    topics: Topics,
) -> None:
    """``/readyz``: the database, redis, the broker and a deployed model; ``/metrics``."""
    client = async_redis_client(settings)
    guard = topic_guard(settings, [topics.corrections])
    sql = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-sql")

    async def off_loop(call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(sql, call)

    async def database_ready() -> str:
        return f"{await off_loop(store.unused_corrections_count)} unused corrections"

    async def model_ready() -> str:
        record = await off_loop(store.deployed_model)
        if record is None:
            raise LearnerError("no model is deployed: run `triage init`")
        return record.version

    async def before_scrape() -> None:
        await off_loop(lambda: metrics.refresh(store))

    install_probes(
        app,
        checks={
            "database": database_ready,
            "redis": redis_ping(client),
            "broker": guard.reachable,
            "model": model_ready,
        },
        registry=metrics.registry,
        before_scrape=before_scrape,
    )


def install_trigger(
    app: faust.App, learner: RetrainTrigger, poll_s: float, metrics: LearnerMetrics | None = None
) -> None:
    """Every ``poll_s``, one retrain cycle if due, on its own thread; never two at once, in
    this process (``busy``) or across learners (the redis training lock, ``run_exclusively``)."""
    training = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
    busy = asyncio.Lock()

    def cycle() -> tuple[RunResult | None, float]:
        if not learner.due():  # checked before the lock: most polls have nothing to do
            return None, 0.0
        started = time.monotonic()
        result = run_exclusively(learner.announcer, learner.maybe_run)
        return result, time.monotonic() - started

    async def trigger() -> None:
        if busy.locked():
            return
        async with busy:
            try:
                result, seconds = await asyncio.get_running_loop().run_in_executor(training, cycle)
            except Exception as exc:
                if database_unavailable(exc):
                    # the recorder waits the outage out; a run cut short by it stays open and
                    # is closed as interrupted by the next one, which retrains its corrections
                    log.error(
                        "retrain check skipped, the store is unavailable: %s; trying again in %g s",
                        brief_error(exc),
                        poll_s,
                    )
                    return
                log.critical("training run failed, stopping the learner: %r", exc, exc_info=True)
                await app.crash(exc)
                raise
            if result is not None:
                _log_result(result)
                if metrics is not None:
                    metrics.observe_run(seconds, result.gates_passed)

    app.timer(poll_s)(trigger)


def _log_result(result: RunResult) -> None:
    log.info(
        "run %d: candidate %s, %d corrections, gold macro-F1 %.4f, %s",
        result.run_id,
        result.version,
        result.corrections_used,
        result.macro_f1,
        "deployed"
        if result.deployed
        else f"rejected, {result.quarantined} corrections quarantined",
    )


def run(settings: LearnerSettings, *, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; a crash exits non-zero with the original traceback."""
    build(settings, loglevel=loglevel).execute_from_commandline()

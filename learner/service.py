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
from concurrent.futures import ThreadPoolExecutor

import faust

from bus import AckedProducer, faust_app, producer_config
from learner.deploy import Announcer, adopt
from learner.gates import Margins
from learner.recorder import RecordStage, StoreRetry, install_recorder
from learner.settings import LearnerSettings
from learner.trigger import Learner, RunResult
from schemas.topics import Topics
from store import DeployedLabels, Store, brief_error, database_unavailable

log = logging.getLogger(__name__)


def create_app(settings: LearnerSettings) -> faust.App:
    """The learner's app: the same broker settings as the worker's (see :mod:`bus.app`)."""
    return faust_app(settings.group_id, settings)


def build(settings: LearnerSettings, *, loglevel: str = "info") -> faust.Worker:
    from models.gates import load_pack

    topics = Topics(settings.topic_prefix)
    store = Store.open(settings.database_url)
    announcer = Announcer.from_settings(settings, topics)
    if settings.model_dir.is_dir():
        adopt(store, announcer, settings.model_dir)
    learner = Learner(
        store=store,
        announcer=announcer,
        gold_dir=settings.gold_dir,
        registry_dir=settings.registry_dir,
        pack=load_pack(settings.eval_pack),
        margins=Margins(settings.macro_f1_margin, settings.class_f1_margin),
        retrain_after=settings.retrain_after,
        holdout_share=settings.correction_holdout,
        min_holdout_rows=settings.min_holdout_rows,
        min_class_support=settings.gate_min_class_support,
        backend=settings.backend,
        device=settings.device,
    )
    app = create_app(settings)
    stage = RecordStage(
        store=store,
        topics=topics,
        labels=DeployedLabels(store, settings.model_dir),
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="record"),
        retry=StoreRetry(give_up_s=settings.store_retry_s),
    )
    install_recorder(
        app,
        stage,
        producer=AckedProducer(producer_config(settings)),
        partitions=settings.partitions,
    )
    install_trigger(app, learner, settings.trigger_poll_s)
    return faust.Worker(app, loglevel=loglevel)


def install_trigger(app: faust.App, learner: Learner, poll_s: float) -> None:
    """Every ``poll_s``, one retrain cycle if due, on its own thread; never two at once."""
    training = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
    busy = asyncio.Lock()

    async def trigger() -> None:
        if busy.locked():
            return
        async with busy:
            try:
                result = await asyncio.get_running_loop().run_in_executor(
                    training, learner.maybe_run
                )
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

"""`triage simulate`: the whole learning loop on the live embedded stack, reviewer simulated.

A labelled file is split into a held-out test set, a seed (the starter model's gold set) and a
stream (:mod:`ops.simulate_split`). The stream is published as tickets to a real
``triage worker``; the real ``triage learner`` records decisions; a simulated reviewer answers
shadow/manual decisions from the true labels (optionally wrong at ``error_rate``) by publishing
Corrections, exactly ``retrain_after`` at a time, and waits for the learner's run
(:mod:`ops.simulate_loop`); workers follow each deployment through the redis model pointer. The
rows come from the registry and the training runs (:mod:`ops.simulate_table`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from learner import (
    Announcer,
    Backend,
    Candidate,
    GoldSet,
    Margins,
    adopt,
    evaluate_sets,
    fit_candidate,
)
from models import LabelledData, read_labelled
from ops.simulate_loop import (
    STEP_TIMEOUT_S,
    LoopDriver,
    Reviewer,
    Services,
    start_services,
    stop_services,
)
from ops.simulate_poison import Poisoner, SecondReviewer, poison_report, spacing
from ops.simulate_split import SimulationSplit, apply_label_map, split_for_simulation
from ops.simulate_table import (
    SimulationResult,
    class_rows,
    matched_global,
    rows_from_store,
    switched_on,
)
from schemas import Topics
from store import HoldRule, Store

if TYPE_CHECKING:
    from models import EvalPack
    from ops.stack import StackInfo

#: Said under the table: how the workers learn of a deployment, which the rows cannot show.
DEPLOYMENT_NOTE = (
    "workers follow deployments through the redis model pointer (stream.serving."
    "ModelWatcher); models.deployed is published for everything else"
)


@dataclass(frozen=True)
class SimulationConfig:
    data: Path
    text_col: str
    label_col: str
    seed_fraction: float
    test_fraction: float
    retrain_after: int
    backend: Backend
    work_dir: Path
    label_map: Path | None = None
    error_rate: float = 0.0
    max_rounds: int | None = None
    seed: int = 13
    #: how much worse than the deployed model a candidate may be (the learner's gates)
    margins: Margins = field(default_factory=Margins)
    chunk: int = 500
    #: how long one step (decisions, corrections, a training run) may take; a LoRA retrain on a
    #: busy 2-core machine took over 10 minutes
    step_timeout_s: float = STEP_TIMEOUT_S
    #: workers under shadow mode with the per-class thresholds the learner fits (else the
    #: global route threshold only)
    per_class_thresholds: bool = False
    #: with per-class thresholds: nothing routes until its class qualifies (else a class routes
    #: at the global threshold until it has enough reviews to be fitted)
    shadow_mode: bool = True
    #: wrong labels one more reviewer sends among the honest ones (:mod:`ops.simulate_poison`);
    #: with any, the learner holds by ``hold`` and a second reviewer judges what it holds
    poison: int = 0
    hold: HoldRule = field(default_factory=HoldRule)

    def poisoner(self, labels: list[str], stream_rows: int) -> Poisoner | None:
        """Spread over the corrections the rounds take (the stream's length without a round
        limit, so it may send fewer); its own random draws leave the honest reviewer's as
        they are."""
        if not self.poison:
            return None
        planned = self.max_rounds * self.retrain_after if self.max_rounds else stream_rows
        rng = random.Random(f"poison-{self.seed}")  # noqa: S311 - reproducible, not secrets
        return Poisoner(labels, self.poison, spacing(self.poison, planned), rng)


def simulate(
    config: SimulationConfig, progress: Callable[[str], object] = print
) -> SimulationResult:
    from bus import KafkaSecurity, ProducerConfig
    from models import EvalPack
    from ops.stack import EmbeddedStack

    rng = random.Random(config.seed)  # noqa: S311 - a reproducible simulation, not secrets
    split = split_for_simulation(_read(config), config.test_fraction, config.seed_fraction, rng)
    run = uuid.uuid4().hex[:8]
    work = (config.work_dir / run).resolve()
    GoldSet(train=split.seed, test=split.test).write(work / "gold")
    progress(
        f"test {len(split.test)}, seed {len(split.seed)}, stream {len(split.stream)} rows; "
        f"work dir {work}"
    )
    stack = EmbeddedStack(config.work_dir.resolve() / "stack")
    info, started = stack.start()
    topics = Topics(prefix=f"sim{run}.")
    env = _service_env(config, info, topics, work)
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    starter = fit_candidate(
        split.seed, work / "models", backend=config.backend, test=split.test, pack=lenient
    )
    env["TRIAGE_MODEL_DIR"] = str(starter.model_dir)
    store = Store.open(env["TRIAGE_DATABASE_URL"])
    announcer = Announcer(info.kafka_bootstrap, info.redis_url, topics)
    _adopt_starter(store, announcer, starter, split.test, lenient)
    progress(f"starter model {starter.version} trained on {len(split.seed)} seed rows")
    services: Services | None = None
    try:
        services = start_services(env, work, run)
        driver = LoopDriver(
            store=store,
            producer=ProducerConfig(info.kafka_bootstrap, KafkaSecurity()),
            topics=topics,
            services=services,
            reviewer=Reviewer(
                split.labels,
                config.error_rate,
                rng,
                poisoner=config.poisoner(split.labels, len(split.stream)),
            ),
            retrain_after=config.retrain_after,
            step_timeout_s=config.step_timeout_s,
            max_rounds=config.max_rounds,
            progress=progress,
        )
        if config.poison:
            driver.second = SecondReviewer(driver.reviewer.truth, config.hold.flag)
        driver.feed(split.stream, config.chunk)
        result = _result(store, driver, starter.version)
    finally:
        if services is not None:
            stop_services(services)
        store.close()
        if started:
            stack.stop()
    result.reference_macro_f1 = _reference_macro_f1(config, split, work, lenient)
    return result


def _result(store: Store, driver: LoopDriver, starter: str) -> SimulationResult:
    """The table from what the store recorded: rows, classes, the matched global threshold,
    and with a poisoner what became of its corrections."""
    result = SimulationResult(rows=rows_from_store(store, starter))
    truth, decided = driver.reviewer.truth, store.decided_bands()
    on = switched_on(decided, truth)
    result.classes = class_rows(decided, truth, on)
    overall = result.classes[-1] if result.classes else None
    if overall is not None and overall.precision is not None:
        result.matched = [
            matched_global(decided, truth, overall.precision),
            matched_global(decided, truth, overall.precision, only=on),
        ]
    poisoner, second = driver.reviewer.poisoner, driver.second
    if poisoner is not None and second is not None:
        result.poison = poison_report(store, poisoner, second, driver.poison_runs)
    result.notes.append(DEPLOYMENT_NOTE)
    return result


def _read(config: SimulationConfig) -> LabelledData:
    data = read_labelled(config.data, config.text_col, config.label_col)
    return apply_label_map(data, config.label_map) if config.label_map is not None else data


def _service_env(
    config: SimulationConfig, info: StackInfo, topics: Topics, work: Path
) -> dict[str, str]:
    """The worker's and the learner's settings: a store, gold set and registry of this run's
    own, the config's retrain rule and margins, and a trigger that polls every second."""
    from ops.processes import stack_env

    return stack_env(
        info,
        topics,
        TRIAGE_DATABASE_URL=f"sqlite:///{work / 'triage.db'}",
        TRIAGE_GOLD_DIR=str(work / "gold"),
        TRIAGE_REGISTRY_DIR=str(work / "models"),
        TRIAGE_RETRAIN_AFTER=str(config.retrain_after),
        TRIAGE_BACKEND=config.backend,
        TRIAGE_MACRO_F1_MARGIN=str(config.margins.macro_f1),
        TRIAGE_CLASS_F1_MARGIN=str(config.margins.class_f1),
        TRIAGE_GATE_CONFIDENCE=str(config.margins.confidence),
        TRIAGE_GATE_RESAMPLES=str(config.margins.resamples),
        TRIAGE_TRIGGER_POLL_S="1",
        TRIAGE_DEVICE="cpu",
        TRIAGE_DATA_DIR=str(work / "faust"),
        TRIAGE_SHADOW_MODE=str(config.per_class_thresholds and config.shadow_mode).lower(),
        TRIAGE_PER_CLASS_THRESHOLDS=str(config.per_class_thresholds).lower(),
        **(_hold_env(config.hold) if config.poison else {}),
    )


def _hold_env(hold: HoldRule) -> dict[str, str]:
    """The learner holds and flags by the rule the simulated second reviewer judges with."""
    return {
        "TRIAGE_HOLD_CONFIDENCE": str(hold.confidence),
        "TRIAGE_FLAG_MIN_JUDGED": str(hold.flag.min_judged),
        "TRIAGE_FLAG_OVERTURNED_SHARE": str(hold.flag.overturned_share),
    }


def _adopt_starter(
    store: Store, announcer: Announcer, starter: Candidate, test: LabelledData, pack: EvalPack
) -> None:
    """Register the starter with its test macro-F1 (the first row of the table) and deploy it
    without gates: there is nothing to compare it with."""
    starter_f1 = evaluate_sets(starter.model, {"test": test}, pack)["test"]["macro_f1"]
    store.register_candidate(
        starter.version, str(starter.model_dir), metrics={"macro_f1": starter_f1}
    )
    adopt(store, announcer, starter.model_dir)


def _reference_macro_f1(
    config: SimulationConfig, split: SimulationSplit, work: Path, pack: EvalPack
) -> float:
    """The test macro-F1 of a model trained on every non-test label: what the loop aims at."""
    reference = fit_candidate(
        split.pool, work / "reference", backend=config.backend, test=split.test, pack=pack
    )
    return float(evaluate_sets(reference.model, {"test": split.test}, pack)["test"]["macro_f1"])

"""`triage simulate`: the whole learning loop on the live embedded stack, reviewer simulated.

A labelled file is split into a held-out test set, a seed (the starter model's gold set) and a
stream. The stream is published as tickets to a real ``triage worker``; the real
``triage learner`` records decisions; a simulated reviewer answers shadow/manual decisions from
the true labels (optionally wrong at ``error_rate``) by publishing Corrections, exactly
``retrain_after`` at a time, and waits for the learner's run; workers follow each deployment
through the redis model pointer. The rows come from the registry and the training runs.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learner.deploy import Announcer, adopt
from learner.exceptions import LearnerError
from learner.retrain import Backend, GoldSet, fit_candidate
from models.data import LabelledData, read_labelled
from schemas.events import Correction, Ticket
from schemas.topics import Topics
from store import Store

#: How long the simulation waits for one step of the live system before giving up.
STEP_TIMEOUT_S = 600.0


class SimulationError(LearnerError):
    """The simulation cannot run (bad input) or the live system stopped answering."""


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
    macro_f1_margin: float = 0.01
    class_f1_margin: float = 0.05
    chunk: int = 500
    #: how long one step (decisions, corrections, a training run) may take; a LoRA retrain on a
    #: busy 2-core machine took over 10 minutes
    step_timeout_s: float = STEP_TIMEOUT_S


@dataclass(frozen=True)
class Row:
    version: str
    corrections_used: int
    macro_f1: float
    gates_passed: bool | None
    deployed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "corrections_used": self.corrections_used,
            "macro_f1": round(self.macro_f1, 4),
            "gates_passed": self.gates_passed,
            "deployed": self.deployed,
        }


@dataclass
class SimulationResult:
    rows: list[Row]
    reference_macro_f1: float | None = None
    notes: list[str] = field(default_factory=list)

    def corrections_to_reach(self, share: float = 0.95) -> int | None:
        if self.reference_macro_f1 is None:
            return None
        for row in self.rows:
            if row.deployed and row.macro_f1 >= share * self.reference_macro_f1:
                return row.corrections_used
        return None


def render(result: SimulationResult) -> str:
    lines = [f"{'version':<24} {'corrections':>11} {'macro_f1':>8} {'gates':>6} {'deployed':>8}"]
    for row in result.rows:
        gates = "-" if row.gates_passed is None else ("pass" if row.gates_passed else "FAIL")
        lines.append(
            f"{row.version:<24} {row.corrections_used:>11} {row.macro_f1:>8.4f} {gates:>6} "
            f"{'yes' if row.deployed else 'no':>8}"
        )
    if result.reference_macro_f1 is not None:
        reached = result.corrections_to_reach()
        lines.append(
            f"model trained on all labels: macro-F1 {result.reference_macro_f1:.4f}; 95% of it "
            + (f"reached after {reached} corrections" if reached is not None else "not reached")
        )
    lines.extend(result.notes)
    return "\n".join(lines)


def apply_label_map(data: LabelledData, path: Path) -> LabelledData:
    """``{label: new}`` or ``{group: [labels]}`` (optionally wrapped in one outer key)."""
    raw = json.loads(path.read_text("utf-8"))
    if len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        raw = next(iter(raw.values()))
    mapping: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            mapping.update({str(v): key for v in value})
        else:
            mapping[key] = str(value)
    unmapped = sorted(set(data.labels) - set(mapping))
    if unmapped:
        raise SimulationError(
            f"{path} does not map the labels {unmapped[:10]}; add them to the label map"
        )
    return LabelledData(data.texts, [mapping[label] for label in data.labels], data.source)


def stratified(
    data: LabelledData, fraction: float, rng: random.Random
) -> tuple[LabelledData, LabelledData]:
    """(the ``fraction`` part, the rest), each class in proportion, at least one row each."""
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    taken: list[int] = []
    for rows in by_class.values():
        rng.shuffle(rows)
        taken += rows[: max(1, round(len(rows) * fraction))]
    chosen = set(taken)
    rest = [i for i in range(len(data)) if i not in chosen]
    rng.shuffle(rest)

    def pick(rows: list[int]) -> LabelledData:
        return LabelledData(
            [data.texts[i] for i in rows], [data.labels[i] for i in rows], data.source
        )

    return pick(sorted(chosen)), pick(rest)


def _wait(
    what: str,
    done: Callable[[], bool],
    procs: list[subprocess.Popen[bytes]],
    timeout_s: float = STEP_TIMEOUT_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        for proc in procs:
            if proc.poll() is not None:
                raise SimulationError(
                    f"{proc.args!r} exited {proc.returncode} while waiting for {what}"
                )
        if time.monotonic() > deadline:
            raise SimulationError(
                f"timed out after {timeout_s:.0f} s waiting for {what}; on a slow or busy "
                "machine raise --step-timeout"
            )
        time.sleep(0.5)


def simulate(
    config: SimulationConfig, progress: Callable[[str], object] = print
) -> SimulationResult:
    from bus import KafkaSecurity, ProducerConfig, publish_all
    from models.gates import EvalPack
    from ops.stack import EmbeddedStack

    rng = random.Random(config.seed)  # noqa: S311 - a reproducible simulation, not secrets
    data = read_labelled(config.data, config.text_col, config.label_col)
    if config.label_map is not None:
        data = apply_label_map(data, config.label_map)
    test, pool = stratified(data, config.test_fraction, rng)
    seed, stream = stratified(pool, config.seed_fraction, rng)
    labels = sorted(set(data.labels))
    run = uuid.uuid4().hex[:8]
    work = (config.work_dir / run).resolve()
    gold_dir, registry_dir = work / "gold", work / "models"
    GoldSet(train=seed, test=test).write(gold_dir)
    progress(f"test {len(test)}, seed {len(seed)}, stream {len(stream)} rows; work dir {work}")

    stack = EmbeddedStack(config.work_dir.resolve() / "stack")
    info, started = stack.start()
    topics = Topics(prefix=f"sim{run}.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(
        info.env(),
        TRIAGE_TOPIC_PREFIX=topics.prefix,
        TRIAGE_DATABASE_URL=f"sqlite:///{work / 'triage.db'}",
        TRIAGE_GOLD_DIR=str(gold_dir),
        TRIAGE_REGISTRY_DIR=str(registry_dir),
        TRIAGE_RETRAIN_AFTER=str(config.retrain_after),
        TRIAGE_BACKEND=config.backend,
        TRIAGE_MACRO_F1_MARGIN=str(config.macro_f1_margin),
        TRIAGE_CLASS_F1_MARGIN=str(config.class_f1_margin),
        TRIAGE_TRIGGER_POLL_S="1",
        TRIAGE_DEVICE="cpu",
        TRIAGE_DATA_DIR=str(work / "faust"),
    )
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    starter = fit_candidate(seed, registry_dir, backend=config.backend, test=test, pack=lenient)
    env["TRIAGE_MODEL_DIR"] = str(starter.model_dir)
    store = Store.open(env["TRIAGE_DATABASE_URL"])
    announcer = Announcer(info.kafka_bootstrap, info.redis_url, topics)
    from learner.gates import evaluate_sets

    starter_f1 = evaluate_sets(starter.model, {"test": test}, lenient)["test"]["macro_f1"]
    store.register_candidate(
        starter.version, str(starter.model_dir), metrics={"macro_f1": starter_f1}
    )
    adopt(store, announcer, starter.model_dir)
    progress(f"starter model {starter.version} trained on {len(seed)} seed rows")

    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    producer = ProducerConfig(info.kafka_bootstrap, KafkaSecurity())
    try:
        for name in ("worker", "learner"):
            log = (work / f"{name}.log").open("ab")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ops.cli", name],
                    env={**env, "TRIAGE_GROUP_ID": f"{name}-{run}"},
                    cwd=work,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        truth: dict[str, str] = {}
        answered: set[str] = set()
        pending: list[Correction] = []
        rounds = 0
        for start in range(0, len(stream), config.chunk):
            tickets = [
                Ticket(ticket_id=f"sim-{run}-{i}", body=stream.texts[i])
                for i in range(start, min(start + config.chunk, len(stream)))
            ]
            for ticket, label in zip(tickets, stream.labels[start:], strict=False):
                truth[ticket.ticket_id] = label
            publish_all(
                producer,
                topics.incoming,
                [(t.ticket_id.encode(), t.model_dump_json().encode()) for t in tickets],
            )
            _wait(
                "decisions",
                lambda: store.count_decisions() >= len(truth),
                procs,
                config.step_timeout_s,
            )
            pending += _review(store, truth, answered, labels, config.error_rate, rng)
            while len(pending) >= config.retrain_after:
                batch, pending = pending[: config.retrain_after], pending[config.retrain_after :]
                runs_before = store.finished_runs()
                stored_before = store.count_corrections()
                publish_all(
                    producer,
                    topics.corrections,
                    [(c.ticket_id.encode(), c.model_dump_json().encode()) for c in batch],
                )
                _wait(
                    "corrections",
                    lambda n=stored_before + len(batch): store.count_corrections() >= n,  # type: ignore[misc]
                    procs,
                )
                _wait(
                    "a training run",
                    lambda n=runs_before: store.finished_runs() > n,  # type: ignore[misc]
                    procs,
                    config.step_timeout_s,
                )
                rounds += 1
                last = store.model_versions()[0]
                progress(
                    f"round {rounds}: {last.version} {last.status} "
                    f"(gold macro-F1 {(last.metrics or {}).get('macro_f1', 0):.4f})"
                )
                if config.max_rounds is not None and rounds >= config.max_rounds:
                    break
            if config.max_rounds is not None and rounds >= config.max_rounds:
                break
        result = SimulationResult(rows=_rows(store, starter.version))
        result.notes.append(
            "workers follow deployments through the redis model pointer (stream.serving."
            "ModelWatcher); models.deployed is published for everything else"
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
        for log in logs:
            log.close()
        store.close()
        if started:
            stack.stop()
    reference = fit_candidate(
        pool, work / "reference", backend=config.backend, test=test, pack=lenient
    )
    result.reference_macro_f1 = float(
        evaluate_sets(reference.model, {"test": test}, lenient)["test"]["macro_f1"]
    )
    return result


def _review(
    store: Store,
    truth: dict[str, str],
    answered: set[str],
    labels: list[str],
    error_rate: float,
    rng: random.Random,
) -> list[Correction]:
    """The reviewer: every shadow/manual decision not yet answered, the true label (or, at
    ``error_rate``, a wrong one); confirm when it agrees with the model, else override."""
    out = []
    for ticket_id, decided in store.reviewable_decisions():
        if ticket_id in answered or ticket_id not in truth:
            continue
        answered.add(ticket_id)
        label = truth[ticket_id]
        if error_rate and rng.random() < error_rate:
            label = rng.choice([lab for lab in labels if lab != label])
        out.append(
            Correction(
                ticket_id=ticket_id,
                label=label,
                reviewer="simulated",
                action="confirm" if label == decided else "override",
            )
        )
    return out


def _rows(store: Store, starter: str) -> list[Row]:
    runs = store.runs_by_candidate()
    rows = []
    for record in reversed(store.model_versions()):
        run = runs.get(record.version)
        rows.append(
            Row(
                version=record.version,
                corrections_used=run.corrections_used if run else 0,
                macro_f1=float((record.metrics or {}).get("macro_f1", 0.0)),
                gates_passed=None
                if record.version == starter
                else run is not None and run.outcome == "deployed",
                deployed=record.deployed_at is not None,
            )
        )
    return rows

"""The simulation's live part: drives the real worker and learner the way a team would.

Tickets go in a chunk at a time; once every one is decided, the simulated reviewer answers the
shadow/manual decisions; its corrections go in exactly ``retrain_after`` at a time, and the
driver waits for the learner's training run before sending more, so each run sees a known
number of corrections. Every wait watches the subprocesses: one that exits ends the simulation
with its status instead of a timeout.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bus import ProducerConfig, publish_all
from models import LabelledData
from ops.exceptions import SimulationError
from ops.processes import start_triage, stop_process
from schemas import Correction, Ticket, Topics
from store import Store

#: How long the simulation waits for one step of the live system before giving up.
STEP_TIMEOUT_S = 600.0

Processes = list[subprocess.Popen[bytes]]


def start_services(env: dict[str, str], work: Path, run: str) -> Processes:
    """`triage worker` and `triage learner`, each in its own consumer group, logs in ``work``."""
    return [
        start_triage(
            [name],
            {**env, "TRIAGE_GROUP_ID": f"{name}-{run}"},
            work / f"{name}.log",
            cwd=work,
            append=True,
        )
        for name in ("worker", "learner")
    ]


def stop_services(procs: Processes) -> None:
    for proc in procs:
        stop_process(proc)


def wait_for(
    what: str, done: Callable[[], bool], procs: Processes, timeout_s: float = STEP_TIMEOUT_S
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


@dataclass
class Reviewer:
    """Answers every shadow/manual decision once, with the true label (or, at ``error_rate``,
    a wrong one); confirms when that agrees with the model, else overrides."""

    labels: list[str]
    error_rate: float
    rng: random.Random
    #: ticket id -> true label, of every ticket published so far
    truth: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    def review(self, store: Store) -> list[Correction]:
        out = []
        for ticket_id, decided in store.reviewable_decisions():
            if ticket_id in self.answered or ticket_id not in self.truth:
                continue
            self.answered.add(ticket_id)
            label = self.truth[ticket_id]
            if self.error_rate and self.rng.random() < self.error_rate:
                label = self.rng.choice([lab for lab in self.labels if lab != label])
            out.append(
                Correction(
                    ticket_id=ticket_id,
                    label=label,
                    reviewer="simulated",
                    action="confirm" if label == decided else "override",
                )
            )
        return out


@dataclass
class LoopDriver:
    """Feeds the stream through the live system, one training run per ``retrain_after``
    corrections, until the stream ends or ``max_rounds`` runs have finished."""

    store: Store
    producer: ProducerConfig
    topics: Topics
    procs: Processes
    reviewer: Reviewer
    retrain_after: int
    step_timeout_s: float
    max_rounds: int | None
    progress: Callable[[str], object]
    rounds: int = 0
    #: the reviewer's corrections not yet sent (fewer than ``retrain_after`` between rounds)
    pending: list[Correction] = field(default_factory=list)

    def finished(self) -> bool:
        return self.max_rounds is not None and self.rounds >= self.max_rounds

    def feed(self, stream: LabelledData, run: str, chunk: int) -> None:
        for start in range(0, len(stream), chunk):
            self._publish_tickets(stream, run, range(start, min(start + chunk, len(stream))))
            wait_for(
                "decisions",
                lambda: self.store.count_decisions() >= len(self.reviewer.truth),
                self.procs,
                self.step_timeout_s,
            )
            self.pending += self.reviewer.review(self.store)
            while len(self.pending) >= self.retrain_after:
                batch = self.pending[: self.retrain_after]
                self.pending = self.pending[self.retrain_after :]
                self._retrain_round(batch)
                if self.finished():
                    break
            if self.finished():
                break

    def _publish_tickets(self, stream: LabelledData, run: str, rows: range) -> None:
        tickets = [Ticket(ticket_id=f"sim-{run}-{i}", body=stream.texts[i]) for i in rows]
        for ticket, i in zip(tickets, rows, strict=True):
            self.reviewer.truth[ticket.ticket_id] = stream.labels[i]
        publish_all(
            self.producer,
            self.topics.incoming,
            [(t.ticket_id.encode(), t.model_dump_json().encode()) for t in tickets],
        )

    def _retrain_round(self, batch: list[Correction]) -> None:
        """Send ``batch``; wait until the learner stored it and finished the run it triggers."""
        runs_before = self.store.finished_runs()
        stored_before = self.store.count_corrections()
        publish_all(
            self.producer,
            self.topics.corrections,
            [(c.ticket_id.encode(), c.model_dump_json().encode()) for c in batch],
        )
        wait_for(
            "corrections",
            lambda: self.store.count_corrections() >= stored_before + len(batch),
            self.procs,
        )
        wait_for(
            "a training run",
            lambda: self.store.finished_runs() > runs_before,
            self.procs,
            self.step_timeout_s,
        )
        self.rounds += 1
        last = self.store.model_versions()[0]
        self.progress(
            f"round {self.rounds}: {last.version} {last.status} "
            f"(gold macro-F1 {(last.metrics or {}).get('macro_f1', 0):.4f})"
        )

"""The simulation's live part: drives the real worker and learner the way a team would.

Tickets go in a chunk at a time; once every one is decided, the simulated reviewer answers the
shadow/manual decisions; its corrections go in exactly ``retrain_after`` at a time, and the
driver waits for the learner's training run before sending more, so each run sees a known
number of corrections. Every wait watches the subprocesses: one that exits ends the simulation
with its status instead of a timeout.

The same seed gives the same table: nothing the loop decides depends on timing or on the order
in which the broker's partitions deliver. Ticket ids are the stream positions (a correction's
id, and so whether it is held out to gate, follows from the ticket and its label, not from the
run); the reviewer answers in stream order, not in the order the learner stored the decisions;
and a chunk is published only once the worker serves the deployed model (its ``/readyz``), so
no ticket is classified by the model a deployment just replaced.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bus import ProducerConfig, publish_all
from models import LabelledData
from ops.exceptions import SimulationError
from ops.processes import start_triage, stop_process
from ops.simulate_poison import Poisoner, RunPoison, SecondReviewer, run_poison
from ops.stack import free_port
from schemas import Correction, Ticket, Topics
from store import Store

#: How long the simulation waits for one step of the live system before giving up.
STEP_TIMEOUT_S = 600.0

Processes = list[subprocess.Popen[bytes]]


@dataclass(frozen=True)
class Services:
    """The run's `triage worker` and `triage learner`, and the worker's probe address."""

    procs: Processes
    worker_probe: str

    def served_model(self) -> str | None:
        """The version the worker serves now (its ``/readyz`` model check); None while the
        worker is starting or not ready."""
        url = f"{self.worker_probe}/readyz"  # http://127.0.0.1:<port>, our own worker
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                checks = json.load(response).get("checks", {})
        except (OSError, ValueError):
            return None
        status = str(checks.get("model", ""))
        return status.removeprefix("ok: ") if status.startswith("ok: ") else None


def start_services(env: dict[str, str], work: Path, run: str) -> Services:
    """`triage worker` and `triage learner`, each in its own consumer group, logs in ``work``;
    the worker answers ``/readyz`` on a free local port."""
    port = free_port()
    own = {"worker": {"TRIAGE_PROBE_PORT": str(port)}, "learner": {}}
    procs = [
        start_triage(
            [name],
            {**env, "TRIAGE_GROUP_ID": f"{name}-{run}", **settings},
            work / f"{name}.log",
            cwd=work,
            append=True,
        )
        for name, settings in own.items()
    ]
    return Services(procs, worker_probe=f"http://127.0.0.1:{port}")


def stop_services(services: Services) -> None:
    for proc in services.procs:
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
    a wrong one); confirms when that agrees with the model, else overrides. With a
    ``poisoner``, the tickets it takes are answered by it instead."""

    labels: list[str]
    error_rate: float
    rng: random.Random
    poisoner: Poisoner | None = None
    #: ticket id -> true label, of every ticket published so far
    truth: dict[str, str] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    def review(self, store: Store) -> list[Correction]:
        """The corrections of every decision not yet answered, in stream order: the store's
        order is the order the broker's partitions happened to deliver in."""
        position = {ticket_id: i for i, ticket_id in enumerate(self.truth)}
        unanswered = [
            (ticket_id, decided)
            for ticket_id, decided in store.reviewable_decisions()
            if ticket_id in position and ticket_id not in self.answered
        ]
        out = []
        for ticket_id, decided in sorted(unanswered, key=lambda row: position[row[0]]):
            true = self.truth[ticket_id]
            if self.poisoner is not None and self.poisoner.takes(len(self.answered)):
                self.answered.add(ticket_id)
                out.append(self.poisoner.answer(ticket_id, true, decided))
                continue
            self.answered.add(ticket_id)
            label = true
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
    corrections, until the stream ends or ``max_rounds`` runs have finished. With a
    ``second`` reviewer, held corrections are judged as soon as a batch is stored, and the
    driver sends more until ``retrain_after`` unused ones are active (held ones do not count)."""

    store: Store
    producer: ProducerConfig
    topics: Topics
    services: Services
    reviewer: Reviewer
    retrain_after: int
    step_timeout_s: float
    max_rounds: int | None
    progress: Callable[[str], object]
    second: SecondReviewer | None = None
    rounds: int = 0
    #: the reviewer's corrections not yet sent (fewer than a round needs between rounds)
    pending: list[Correction] = field(default_factory=list)
    #: with a second reviewer: each run's poisoned corrections, read as it finished
    poison_runs: list[RunPoison] = field(default_factory=list)

    def finished(self) -> bool:
        return self.max_rounds is not None and self.rounds >= self.max_rounds

    def feed(self, stream: LabelledData, chunk: int) -> None:
        for start in range(0, len(stream), chunk):
            self._wait_for_deployed_model()
            self._publish_tickets(stream, range(start, min(start + chunk, len(stream))))
            wait_for(
                "decisions",
                lambda: self.store.count_decisions() >= len(self.reviewer.truth),
                self.services.procs,
                self.step_timeout_s,
            )
            self.pending += self.reviewer.review(self.store)
            while not self.finished() and (runs_done := self._fill_round()) is not None:
                self._wait_for_run(runs_done)
            if self.finished():
                break

    def _fill_round(self) -> int | None:
        """Send corrections until a run is due, and say how many runs had finished before it;
        None when the pending ones run out first.

        Without holds this sends exactly ``retrain_after``. With them, the run can only become
        due on the driver's last action (a stored batch without holds, or the confirm of the
        last held one), so every run sees a known set of corrections."""
        runs_done = self.store.finished_runs()
        while not self._run_due(runs_done):
            need = self.retrain_after - self.store.unused_corrections_count()
            if len(self.pending) < need:
                return None
            batch, self.pending = self.pending[:need], self.pending[need:]
            self._send(batch)
            if self.second is not None:
                self.second.judge_all(self.store)
        return runs_done

    def _run_due(self, runs_done: int) -> bool:
        """Unused first: a run consumes them only after it started, so a run that already
        took them is seen by the second read."""
        unused = self.store.unused_corrections_count()
        started = sum(self.store.run_counts().values())
        return unused >= self.retrain_after or started > runs_done

    def _wait_for_deployed_model(self) -> None:
        """Until the worker serves the deployed model: it polls the pointer, so right after a
        deployment it may still classify with the model that was replaced."""
        deployed = self.store.deployed_model()
        if deployed is None:
            return
        wait_for(
            f"the worker to serve {deployed.version}",
            lambda: self.services.served_model() == deployed.version,
            self.services.procs,
            self.step_timeout_s,
        )

    def _publish_tickets(self, stream: LabelledData, rows: range) -> None:
        # the position, not the run: a correction's id (and so whether it is held out) is
        # derived from the ticket id; topics, redis keys and the store are the run's own
        tickets = [Ticket(ticket_id=f"sim-{i}", body=stream.texts[i]) for i in rows]
        for ticket, i in zip(tickets, rows, strict=True):
            self.reviewer.truth[ticket.ticket_id] = stream.labels[i]
        publish_all(
            self.producer,
            self.topics.incoming,
            [(t.ticket_id.encode(), t.model_dump_json().encode()) for t in tickets],
        )

    def _send(self, batch: list[Correction]) -> None:
        """Publish ``batch`` and wait until the learner stored all of it (held or not)."""
        stored_before = self.store.count_corrections()
        publish_all(
            self.producer,
            self.topics.corrections,
            [(c.ticket_id.encode(), c.model_dump_json().encode()) for c in batch],
        )
        wait_for(
            "corrections",
            lambda: self.store.count_corrections() >= stored_before + len(batch),
            self.services.procs,
        )

    def _wait_for_run(self, runs_done: int) -> None:
        """Until the due run finished and consumed its corrections (tagged or quarantined)."""
        wait_for(
            "a training run",
            lambda: (
                self.store.finished_runs() > runs_done
                and self.store.unused_corrections_count() < self.retrain_after
            ),
            self.services.procs,
            self.step_timeout_s,
        )
        self.rounds += 1
        if self.second is not None:
            self.poison_runs.append(run_poison(self.store, self.second.rule))
        last = self.store.model_versions()[0]
        self.progress(
            f"round {self.rounds}: {last.version} {last.status} "
            f"(gold macro-F1 {(last.metrics or {}).get('macro_f1', 0):.4f})"
        )

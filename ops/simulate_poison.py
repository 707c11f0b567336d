"""`triage simulate --poison N`: one reviewer sends N wrong labels among the honest ones.

The poisoner answers every ``every``-th reviewed ticket instead of the honest reviewer, with a
random label other than the true one, so its corrections are spread over the rounds. The learner
holds a correction the deciding model was confidently against (``TRIAGE_HOLD_CONFIDENCE``); a
simulated second reviewer judges every held correction against the truth as soon as a batch is
stored, so a poisoner is flagged as early as the flag rule allows, and from then on every
correction of theirs, those already trained on included, is held.

What the report measures is what the issue asks: whether any model that was *deployed* had a
poisoned correction among its run's corrections (trained on, or held out to gate it). Each
retrain learns from every active correction, not only the fresh ones, so a run's set is read
right after it: the poisoner's corrections still active then, plus those the run quarantined.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from schemas import Correction
from store import FlagRule, ReviewerRecord, Store

POISONER = "poisoner"
SECOND_REVIEWER = "second-reviewer"
#: more than any simulation holds at once, so one read sees every held correction
ALL = 100_000


@dataclass
class Poisoner:
    """Takes every ``every``-th reviewed ticket until it sent ``count`` wrong labels."""

    labels: list[str]
    count: int
    every: int
    rng: random.Random
    sent: int = 0

    def takes(self, position: int) -> bool:
        """Whether the reviewer's ``position``-th answer (0-based) is the poisoner's."""
        return self.sent < self.count and position % self.every == self.every - 1

    def answer(self, ticket_id: str, true: str, decided: str) -> Correction:
        self.sent += 1
        label = self.rng.choice([lab for lab in self.labels if lab != true])
        return Correction(
            ticket_id=ticket_id,
            label=label,
            reviewer=POISONER,
            action="confirm" if label == decided else "override",
        )


def spacing(poison: int, planned: int) -> int:
    """Every how many reviewed tickets the poisoner answers one, to spread ``poison`` over
    ``planned`` corrections (at least every other one: honest ones are always among them)."""
    return max(2, planned // max(1, poison))


@dataclass
class SecondReviewer:
    """Judges held corrections against the true labels: confirm the true label, overturn any
    other. ``by_hold`` counts, per first reviewer, the holds judged by why they were held."""

    truth: dict[str, str]
    rule: FlagRule
    by_hold: Counter[tuple[str, str]] = field(default_factory=Counter)

    def judge_all(self, store: Store) -> None:
        """Until nothing is held: an overturn that flags a reviewer holds more of theirs."""
        while held := store.held_corrections(exclude_reviewer=SECOND_REVIEWER, limit=ALL):
            for item in held:
                right = item.label == self.truth[item.ticket_id]
                store.judge_held(
                    item.correction_id,
                    verdict="confirm" if right else "overturn",
                    reviewer=SECOND_REVIEWER,
                    rule=self.rule,
                )
                why = "model" if item.hold_label is not None else "flagged"
                self.by_hold[(item.reviewer, why)] += 1


@dataclass(frozen=True)
class RunPoison:
    """One training run, how many of the poisoner's corrections were in its set, and whether
    the poisoner was flagged before it started (nothing is judged while a run trains)."""

    run_id: int
    version: str | None
    outcome: str | None
    poisoned: int
    after_flag: bool


def run_poison(store: Store, rule: FlagRule) -> RunPoison:
    """The newest run's poisoned corrections, read once it finished and consumed its set (no
    correction changed state since it planned, but those it quarantined)."""
    run = store.retrain_history(limit=1)[0]
    mine = store.list_corrections(reviewer=POISONER, limit=ALL)
    poisoned = sum(
        c.status == "active" or (c.status == "quarantined" and c.used_in_training_run == run.id)
        for c in mine
    )
    flagged = any(r.reviewer == POISONER and r.flagged for r in store.reviewer_records(rule))
    return RunPoison(run.id, run.candidate_version, run.outcome, poisoned, flagged)


@dataclass
class PoisonReport:
    """What became of the poisoner's corrections, who was flagged, and which runs used them."""

    sent: int
    statuses: dict[str, int]
    held_by_model: int
    held_by_flag: int
    reviewers: list[ReviewerRecord]
    runs: list[RunPoison]
    deployed_at_end: str | None

    @property
    def deployed_poisoned(self) -> list[RunPoison]:
        return [r for r in self.runs if r.outcome == "deployed" and r.poisoned]

    def flagged(self, reviewer: str) -> bool:
        return any(r.reviewer == reviewer and r.flagged for r in self.reviewers)

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        tainted = self.deployed_poisoned
        at_end = [r for r in self.runs if r.version == self.deployed_at_end]
        end_poisoned = at_end[0].poisoned if at_end else 0
        flagged = [r.reviewer for r in self.reviewers if r.flagged]
        after = [r for r in self.runs if r.after_flag]
        return [
            "",
            f"poisoner: {self.sent} wrong labels sent; now {statuses or 'none stored'}; held "
            f"{self.held_by_model} by the model's objection, {self.held_by_flag} as flagged",
            "flagged reviewers: " + (", ".join(flagged) or "none"),
            *(
                f"  {r.reviewer}: {r.held} held, {r.confirmed} confirmed, {r.overturned} "
                f"overturned{' (flagged)' if r.flagged else ''}"
                for r in self.reviewers
            ),
            "poisoned corrections in deployed runs: "
            + (
                ", ".join(
                    f"run {r.run_id} ({r.version}): {r.poisoned}, "
                    + ("after" if r.after_flag else "before")
                    + " the flag"
                    for r in tainted
                )
                or "none"
            ),
            f"runs after the flag: {len(after)} ({sum(r.outcome == 'deployed' for r in after)} "
            f"deployed), {sum(r.poisoned for r in after)} poisoned corrections in them",
            f"poisoned corrections in the model deployed at the end ({self.deployed_at_end}): "
            f"{end_poisoned}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reviewers": [r.as_dict() for r in self.reviewers]}


def poison_report(
    store: Store, poisoner: Poisoner, second: SecondReviewer, runs: list[RunPoison]
) -> PoisonReport:
    deployed = store.deployed_model()
    return PoisonReport(
        sent=poisoner.sent,
        statuses=dict(
            Counter(c.status for c in store.list_corrections(reviewer=POISONER, limit=ALL))
        ),
        held_by_model=second.by_hold[(POISONER, "model")],
        held_by_flag=second.by_hold[(POISONER, "flagged")],
        reviewers=store.reviewer_records(second.rule),
        runs=runs,
        deployed_at_end=deployed.version if deployed is not None else None,
    )

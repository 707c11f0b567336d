"""The trigger: enough new corrections start one retrain -> gate -> deploy-or-reject cycle.

The count is of active corrections no run has consumed yet; a run consumes every such
correction (trained on, or held out to gate), whatever its outcome, so a rejected candidate is
not retried on the same evidence: the next run waits for ``retrain_after`` fresh corrections.
A rejected run's fresh corrections are also quarantined (:mod:`store.corrections`): later runs
train without them until a person releases them, so honest corrections that arrive after a
flood of bad ones are judged on their own.

Error policy: a run that raises is recorded as ``failed`` with the error, its corrections stay
unconsumed, and the exception propagates so the service crashes loudly instead of retrying a
broken training forever. A run that never got to record anything (the learner was killed
mid-training) is found open by the next run, which closes it as interrupted and removes its
staging directory first: the next run then trains on the same corrections, from scratch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learner.deploy import Announcer, deploy
from learner.exceptions import RetrainError
from learner.gates import GOLD_TEST, GateRule, evaluate_sets, judge, lost_heads
from learner.retrain import (
    Backend,
    GoldSet,
    fit_candidate,
    gate_sets,
    missing_heads,
    split_corrections,
    sweep_staging,
    training_set,
)

if TYPE_CHECKING:
    from learner.gates import Verdict
    from learner.retrain import Candidate
    from models import EvalPack, Hierarchy, LabelledData, TrainConfig
    from store import ModelRecord, Store, TrainingCorrection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_id: int
    version: str
    corrections_used: int
    macro_f1: float
    gates_passed: bool
    deployed: bool
    report: dict[str, Any]
    quarantined: int = 0


@dataclass(frozen=True)
class RunPlan:
    """What one run trains on and gates with, read from the store before it starts."""

    gold: GoldSet
    every: list[TrainingCorrection]
    fresh: set[str]
    train_rows: list[TrainingCorrection]
    held: list[TrainingCorrection]
    data: LabelledData
    #: unreviewed routed texts to self-train on (``pseudo_from_routed``; empty: none)
    unlabelled: list[str]
    #: the gold set's team -> intent hierarchy: ``data`` holds the child labels then
    hierarchy: Hierarchy | None = None


@dataclass(frozen=True)
class Judged:
    """A trained candidate and the gates' verdict on it, before anything is recorded."""

    candidate: Candidate
    current: ModelRecord | None
    metrics: dict[str, dict[str, Any]]
    verdict: Verdict
    report: dict[str, Any]
    corrections_used: int


@dataclass
class RetrainTrigger:
    """Everything one cycle needs, built once by the service from its settings."""

    store: Store
    announcer: Announcer
    gold_dir: Path
    registry_dir: Path
    pack: EvalPack
    gates: GateRule
    retrain_after: int
    #: share of corrections never trained on, kept to gate candidates (stable by hash)
    holdout_share: float
    backend: Backend
    train_config: TrainConfig | None = None
    #: TRIAGE_DEVICE: where a candidate trains and the deployed model is scored (auto: a GPU
    #: when one is visible)
    device: str = "auto"
    #: TRIAGE_PSEUDO_FROM_ROUTED: the newest unreviewed routed decisions a candidate
    #: self-trains on as pseudo-labels (0: none)
    pseudo_from_routed: int = 0

    def due(self) -> bool:
        return self.store.unused_corrections_count() >= self.retrain_after

    def maybe_run(self) -> RunResult | None:
        """One cycle if enough corrections piled up, else None. Blocking: call off the loop."""
        return self.run() if self.due() else None

    def _clean_up_dead_runs(self) -> None:
        """What a killed run left: an open run row and maybe a half-written candidate."""
        closed = self.store.close_interrupted_runs()
        swept = sweep_staging(self.registry_dir)
        if closed or swept:
            log.warning(
                "closed %d interrupted training run(s) %s and removed %d staging "
                "director(y/ies) %s; retraining their corrections now",
                len(closed),
                closed,
                len(swept),
                [p.name for p in swept],
            )

    def run(self) -> RunResult:
        """One cycle: train on gold + corrections, gate against the deployed model, then
        deploy or reject, and consume the corrections either way (see the module doc)."""
        self._clean_up_dead_runs()
        plan = self._plan()
        self.registry_dir.mkdir(parents=True, exist_ok=True)  # before the run is on record
        run_id = self.store.start_run(
            gold_rows=len(plan.gold.train), corrections_used=len(plan.every)
        )
        try:
            judged = self._train_and_judge(plan, run_id)
            self._record(judged)
        except Exception as exc:
            self.store.finish_run(run_id, outcome="failed", report={"error": repr(exc)})
            raise
        passed = judged.verdict.passed
        self.store.finish_run(
            run_id,
            outcome="deployed" if passed else "rejected",
            candidate_version=judged.candidate.version,
            report=judged.report,
        )
        rejection = None if passed else "; ".join(judged.verdict.failures()) or "gates failed"
        quarantined = self._consume(run_id, plan.fresh, judged.candidate.version, rejection)
        return RunResult(
            run_id=run_id,
            version=judged.candidate.version,
            corrections_used=len(plan.every),
            macro_f1=float(judged.metrics[GOLD_TEST]["macro_f1"]),
            gates_passed=passed,
            deployed=passed,
            report=judged.report,
            quarantined=quarantined,
        )

    def _plan(self) -> RunPlan:
        gold = GoldSet.read(self.gold_dir)
        self._refuse_unlabelled_heads(gold)
        every = self.store.training_corrections(unused_only=False)
        fresh = {c.correction_id for c in self.store.training_corrections()}
        train_rows, held = split_corrections(every, self.holdout_share)
        data = gold.trainable(training_set(gold.train, train_rows))
        limit = self.pseudo_from_routed
        unlabelled = self.store.unreviewed_routed_texts(limit) if limit else []
        return RunPlan(gold, every, fresh, train_rows, held, data, unlabelled, gold.hierarchy())

    def _refuse_unlabelled_heads(self, gold: GoldSet) -> None:
        """Before any run is on record: a deployed head the gold set does not label cannot be
        retrained, and finding that out after training would reject the run and quarantine
        the honest corrections it consumed."""
        from models import read_manifest

        current = self.store.deployed_model()
        if current is None:
            return
        heads = read_manifest(Path(current.model_dir)).heads
        missing = missing_heads(heads, gold)
        if missing:
            options = " ".join(
                f"--sub-label-col {n}" if heads[n].parent_head is not None else f"--task-col {n}"
                for n in missing
            )
            how = (
                "write a gold set with those columns: move TRIAGE_GOLD_DIR away and run "
                f"`triage init --gold FILE {options}`"
            )
            raise RetrainError(
                f"deployed model {current.version} has heads {missing} that the gold set in "
                f"{self.gold_dir} does not label; no retrain ran, the corrections wait: {how}"
            )

    def _train_and_judge(self, plan: RunPlan, run_id: int) -> Judged:
        from models import load

        current = self.store.deployed_model()
        candidate = fit_candidate(
            plan.data,
            self.registry_dir,
            backend=self.backend,
            test=plan.gold.trainable(plan.gold.test),
            pack=self.pack,
            config=self.train_config,
            device=self.device,
            unlabelled=plan.unlabelled,
            head_weights=plan.gold.weights,
            hierarchy=plan.hierarchy,
        )
        sets = gate_sets(plan.gold, plan.held)
        metrics = evaluate_sets(candidate.model, sets, self.pack)
        deployed = load(current.model_dir, self.device) if current is not None else None
        deployed_metrics = (
            evaluate_sets(deployed, sets, self.pack) if deployed is not None else None
        )
        verdict = judge(
            metrics,
            deployed_metrics,
            pack=self.pack,
            margins=self.gates.margins,
            min_holdout_rows=self.gates.min_holdout_rows,
            min_class_support=self.gates.min_class_support,
        )
        verdict.lost_heads = lost_heads(candidate.model, deployed)
        report = {
            **verdict.to_dict(),
            "run_id": run_id,
            "corrections_used": len(plan.every),
            "corrections_trained": len(plan.train_rows),
            "corrections_held_out": len(plan.held),
            "training_rows": len(plan.data),
            "pseudo_candidates": len(plan.unlabelled),
            "compared_with": current.version if current is not None else None,
        }
        return Judged(candidate, current, metrics, verdict, report, len(plan.every))

    def _record(self, judged: Judged) -> None:
        """Register the candidate, then deploy it or mark it rejected (the deployed one stays)."""
        candidate, current = judged.candidate, judged.current
        self.store.register_candidate(
            candidate.version,
            str(candidate.model_dir),
            metrics={
                "macro_f1": judged.metrics[GOLD_TEST]["macro_f1"],
                "accuracy": judged.metrics[GOLD_TEST]["accuracy"],
                "corrections_used": judged.corrections_used,
                "sets": judged.verdict.candidate,
            },
            parent_version=current.version if current is not None else None,
        )
        if judged.verdict.passed:
            deploy(self.store, self.announcer, candidate.version, gate_report=judged.report)
            return
        self.store.mark_rejected(candidate.version, gate_report=judged.report)
        log.warning(
            "candidate %s rejected, %s stays deployed: %s",
            candidate.version,
            current.version if current else None,
            "; ".join(judged.verdict.failures()),
        )

    def _consume(self, run_id: int, fresh: set[str], version: str, rejection: str | None) -> int:
        """Tag the run's fresh corrections; a rejected run's are quarantined, since they are
        the likeliest cause and retraining on them again would sink every later run too."""
        if rejection is None:
            self.store.mark_used(run_id, fresh)
            return 0
        reason = f"run {run_id}: candidate {version} rejected: {rejection}"
        held = self.store.quarantine_rejected_run(run_id, sorted(fresh), reason=reason)
        if held:
            log.warning(
                "run %d rejected: %d corrections quarantined; review them with "
                "`triage corrections list --status quarantined --run %d`",
                run_id,
                held,
                run_id,
            )
        return held

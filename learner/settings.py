"""Settings of the learner service (`triage learner`, `triage queue`, `triage report`).

The one settings class of this service: read once at the entry point, then passed on as typed
arguments, so inner code never reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from bus import FaustServiceSettings
from learner.gates import GateRule, Margins
from learner.thresholds import ThresholdPolicy
from store import FlagSettings, HoldRule

#: a share of F1, from 0 to 1: what the no-regression margins are measured in
F1Margin = Annotated[float, Field(ge=0.0, le=1.0)]
#: the confidence of an interval or a bound: below 0.5 it would say less than a coin
Confidence = Annotated[float, Field(gt=0.5, lt=1.0)]
#: a share of something strictly between none and all
Share = Annotated[float, Field(gt=0.0, lt=1.0)]
#: how many of something must be seen first: at least one
AtLeastOne = Annotated[int, Field(ge=1)]


class LearnerSettings(FaustServiceSettings, FlagSettings):
    retrain_after: AtLeastOne = 100
    """unused corrections that trigger training a candidate"""
    macro_f1_margin: F1Margin = 0.01
    """a candidate is rejected when its macro-F1 (and accuracy) is surely lower than the deployed
    model's by more than this: the paired interval lies below -margin
    """
    class_f1_margin: F1Margin = 0.05
    """the same rule for each class with enough rows (gate_min_class_support)"""
    gate_confidence: Confidence = 0.95
    """confidence of the paired bootstrap interval of candidate - deployed; per class it is widened
    for the number of classes judged (Bonferroni)
    """
    gate_resamples: int = Field(2000, ge=100)
    """bootstrap resamples behind each no-regression interval"""
    correction_holdout: Share = 0.2
    """fraction of corrections held out to gate a candidate, never trained on"""
    queue_per_label_cap: AtLeastOne = 5
    """most tickets of one predicted label on the first review page"""
    routed_precision_target: float = Field(0.95, gt=0.0, le=1.0)
    """`triage report bands` flags routed precision below this, and each class's route threshold is
    fitted so that the lower bound of its precision reaches it
    """
    threshold_min_reviews: AtLeastOne = 100
    """reviewed decisions of a class before its route threshold moves from the global default (and
    before it may switch on under shadow mode)
    """
    threshold_confidence: Confidence = 0.95
    """confidence of the one-sided Wilson lower bound on each class's precision"""
    registry_dir: Path = Path("var/models")
    """trained candidates are written to <registry_dir>/<version>"""
    gold_dir: Path = Path("var/gold")
    """the original labelled set: train.jsonl and test.jsonl (text, label)"""
    pseudo_from_routed: int = Field(0, ge=0)
    """the newest unreviewed routed decisions a retrain also self-trains on as pseudo-labels
    (models.pseudo: only those the candidate labels confidently, each round gated on
    validation); 0: off"""
    backend: Literal["lora-transformer", "tfidf"] = "lora-transformer"
    """which of the classifier's training codes retrains"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """device for training"""
    eval_pack: Path | None = None
    """eval pack JSON (default: the models' one)"""
    min_holdout_rows: AtLeastOne = 20
    """held-out corrections needed before they gate a candidate"""
    gate_min_class_support: AtLeastOne = 15
    """a class with fewer rows in an evaluation set is reported, not gated per class; in the
    10-round banking77 simulation the per-class interval on 5-14 held-out rows was 0.39-0.68
    wide (median), from 15 rows 0.15-0.43: below that it can flag only a collapse
    """
    trigger_poll_s: float = Field(5.0, gt=0)
    """how often unused corrections are counted"""
    store_retry_s: float = Field(600.0, ge=0)
    """how long the recorder retries a store that is unavailable (nothing acked meanwhile) before
    the service stops; keep it under the consumer's max poll interval
    """
    hold_confidence: float | None = Field(None, gt=0.5, le=1.0)
    """hold a correction for a second reviewer when the deciding model put at least this
    probability against its label; unset: no second review. 0.90 is measured
    (bench/hold_rule.py); off by default until `triage simulate` judges held corrections, since
    a held one leaves its round short of TRIAGE_RETRAIN_AFTER
    """
    group_id: str = Field("triage-learner", min_length=1)
    """consumer group of the recorder"""

    def gate_rule(self) -> GateRule:
        """The whole rule a candidate is judged by, as the trigger takes it."""
        return GateRule(self.margins(), self.min_holdout_rows, self.gate_min_class_support)

    def threshold_policy(self) -> ThresholdPolicy:
        """How per-class route thresholds are fitted (after each deploy, `triage thresholds`)."""
        return ThresholdPolicy(
            self.routed_precision_target, self.threshold_min_reviews, self.threshold_confidence
        )

    def hold_rule(self) -> HoldRule | None:
        """When the recorder holds a correction for a second reviewer, and flags a reviewer;
        None when TRIAGE_HOLD_CONFIDENCE is unset."""
        if self.hold_confidence is None:
            return None
        return HoldRule(self.hold_confidence, self.flag_rule())

    def margins(self) -> Margins:
        """The no-regression rule these settings describe, as the gates take it."""
        return Margins(
            self.macro_f1_margin,
            self.class_f1_margin,
            confidence=self.gate_confidence,
            resamples=self.gate_resamples,
        )

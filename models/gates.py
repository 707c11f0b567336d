"""Eval gates: the floors a model must clear before it may route a single ticket.

An eval pack is a small JSON file (``models/eval_pack.json`` is the default) so the ML owner can
tighten a floor for one class without touching code. Gates read the metrics dict written by
:mod:`models.evaluate`; the learner adds :func:`compare` (on paired predictions, see
:mod:`models.paired`) so a retrained model never ships when it is worse than the one deployed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.exceptions import DataError, GateFailed
from models.paired import Difference, PairedSample, class_metric

DEFAULT_PACK = Path(__file__).with_name("eval_pack.json")


class ClassFloor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_precision: float | None = Field(None, ge=0, le=1)
    min_recall: float | None = Field(None, ge=0, le=1)
    min_f1: float | None = Field(None, ge=0, le=1)


class EvalPack(BaseModel):
    """Floors on held-out metrics. Unknown keys are refused: a typo must not disable a gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_macro_f1: float = Field(0.65, ge=0, le=1)
    min_accuracy: float = Field(0.70, ge=0, le=1)
    min_per_class_f1: float = Field(0.50, ge=0, le=1)
    per_class: dict[str, ClassFloor] = Field(default_factory=dict)
    #: an extra head's own floors, by head name; a head not named here has none (the
    #: learner still gates it against the deployed model's same head)
    heads: dict[str, EvalPack] = Field(default_factory=dict)

    def for_head(self, head: str) -> EvalPack:
        """The floors ``head`` is held to (none unless ``heads`` names it)."""
        return self.heads.get(head) or EvalPack(min_macro_f1=0, min_accuracy=0, min_per_class_f1=0)


def load_pack(path: Path | None = None) -> EvalPack:
    path = Path(path) if path is not None else DEFAULT_PACK
    if not path.is_file():
        raise DataError(f"eval pack {path} does not exist; pass an existing JSON file")
    try:
        return EvalPack.model_validate_json(path.read_text("utf-8"))
    except (ValidationError, ValueError) as exc:
        raise DataError(f"eval pack {path} is invalid: {exc}") from exc


@dataclass(frozen=True)
class Gate:
    value: float
    threshold: float
    passed: bool
    label: str | None = None  # the class a per-class gate failed (or was weakest) on

    def failure(self, name: str) -> str:
        where = f" on class {self.label}" if self.label is not None else ""
        return f"{name} {self.value:.4f} < {self.threshold:.4f} failed{where}"

    def describe(self, name: str) -> str:
        mark = "pass" if self.passed else "FAIL"
        where = f" ({self.label})" if self.label else ""
        return f"  {mark}  {name}{where}: {self.value:.4f} (floor {self.threshold:.4f})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "passed": bool(self.passed),  # numpy's bool when a metric is numpy's float
        }
        if self.label is not None:
            out["class"] = self.label
        return out


@dataclass(frozen=True)
class RegressionGate:
    """Candidate against deployed on the same rows; see :func:`compare` for the rule."""

    difference: Difference
    margin: float
    label: str | None = None

    @property
    def passed(self) -> bool:
        return self.difference.high >= -self.margin

    @property
    def value(self) -> float:
        return self.difference.first

    def figures(self) -> str:
        return regression_figures(self.to_dict())

    def failure(self, name: str) -> str:
        return (
            f"{name} failed: {self.figures()} lies wholly below -{self.margin:.4f} "
            "(rule: reject when the paired bootstrap interval of candidate - deployed is below "
            f"-margin; margin {self.margin:.4f})"
        )

    def describe(self, name: str) -> str:
        mark = "pass" if self.passed else "FAIL"
        return f"  {mark}  {name}: {self.figures()} (margin {self.margin:.4f})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.difference.to_dict(),
            "value": round(self.value, 4),
            "margin": self.margin,
            "rule": "reject when interval high < -margin",
            "passed": self.passed,
        }
        if self.label is not None:
            out["class"] = self.label
        return out


def regression_figures(stored: Mapping[str, Any]) -> str:
    """What a reviewer needs of one no-regression gate, from its stored form
    (:meth:`RegressionGate.to_dict`): the gate report, the dashboard and the CLI say it alike."""
    low, high = stored["interval"]
    return (
        f"candidate {stored['candidate']:.4f} vs deployed {stored['deployed']:.4f} on "
        f"{stored['rows']} rows, difference {stored['difference']:+.4f}, "
        f"{stored['confidence']:.1%} interval [{low:+.4f}, {high:+.4f}]"
    )


@dataclass
class GateReport:
    gates: dict[str, Gate | RegressionGate] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates.values())

    def failures(self) -> list[str]:
        """One line per failed gate, e.g. ``min_per_class_f1 0.4200 < 0.5000 failed on class x``:
        four decimals, so a failure never reads "0.78 < 0.78"."""
        return [gate.failure(name) for name, gate in self.gates.items() if not gate.passed]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: gate.to_dict() for name, gate in self.gates.items()}

    def render(self) -> str:
        return "\n".join(gate.describe(name) for name, gate in self.gates.items())

    def raise_if_failed(self, what: str = "model") -> None:
        if not self.passed:
            raise GateFailed(f"{what} failed its gates: " + "; ".join(self.failures()), self)


def _floor(name: str, value: float, threshold: float, label: str | None = None) -> Gate:
    return Gate(value=float(value), threshold=threshold, passed=value >= threshold, label=label)


def check(metrics: Mapping[str, Any], pack: EvalPack) -> GateReport:
    """Apply ``pack`` to metrics from :func:`models.evaluate.evaluate`.

    Per-class gates only see classes present in the evaluation data (support > 0): a class the
    test file lacks cannot be measured, and failing it would block every small export.
    """
    report = GateReport()
    report.gates["min_macro_f1"] = _floor("min_macro_f1", metrics["macro_f1"], pack.min_macro_f1)
    report.gates["min_accuracy"] = _floor("min_accuracy", metrics["accuracy"], pack.min_accuracy)
    per_class: Mapping[str, Mapping[str, float]] = metrics["per_class"]
    present = {label: m for label, m in per_class.items() if m.get("support", 0) > 0}
    if present:
        worst = min(present, key=lambda label: present[label]["f1"])
        report.gates["min_per_class_f1"] = _floor(
            "min_per_class_f1", present[worst]["f1"], pack.min_per_class_f1, worst
        )
    for label, floor in pack.per_class.items():
        if label not in present:
            continue
        for metric in ("precision", "recall", "f1"):
            threshold = getattr(floor, f"min_{metric}")
            if threshold is not None:
                name = f"min_{metric}[{label}]"
                report.gates[name] = _floor(name, present[label][metric], threshold, label)
    return report


def compare(
    sample: PairedSample,
    *,
    margin: float,
    class_margin: float,
    confidence: float,
    classes: Sequence[str] = (),
) -> GateReport:
    """No-regression gates on paired predictions: the candidate fails only where the interval of
    (candidate - deployed) lies wholly below ``-margin``, i.e. it is worse by more than the
    margin beyond what resampling the same rows explains.

    ``classes`` are the classes judged one by one (the caller leaves out those with too few rows
    for an interval to mean anything). Their intervals are widened for the number of classes
    (Bonferroni): seven classes each tested at 95 % would reject an equal candidate by chance
    about a third of the time.
    """
    report = GateReport()
    for key in ("macro_f1", "accuracy"):
        report.gates[f"no_regression_{key}"] = RegressionGate(
            sample.difference(key, confidence), margin
        )
    if classes:
        per_class = 1.0 - (1.0 - confidence) / len(classes)
        for label in classes:
            report.gates[f"no_regression_f1[{label}]"] = RegressionGate(
                sample.difference(class_metric(label), per_class), class_margin, label
            )
    return report

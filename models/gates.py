"""Eval gates: the floors a model must clear before it may route a single ticket.

An eval pack is a small JSON file (``models/eval_pack.json`` is the default) so the ML owner can
tighten a floor for one class without touching code. Gates read the metrics dict written by
:mod:`models.evaluate`; the learner adds :func:`compare` so a retrained model never ships when it
is worse than the one already deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.exceptions import DataError, GateFailed

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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "passed": self.passed,
        }
        if self.label is not None:
            out["class"] = self.label
        return out


@dataclass
class GateReport:
    gates: dict[str, Gate] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates.values())

    def failures(self) -> list[str]:
        """One line per failed gate, e.g. ``min_per_class_f1 0.42 < 0.50 failed on class x``."""
        lines = []
        for name, gate in self.gates.items():
            if gate.passed:
                continue
            line = f"{name} {gate.value:.2f} < {gate.threshold:.2f} failed"
            if gate.label is not None:
                line += f" on class {gate.label}"
            lines.append(line)
        return lines

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: gate.to_dict() for name, gate in self.gates.items()}

    def render(self) -> str:
        rows = []
        for name, gate in self.gates.items():
            mark = "pass" if gate.passed else "FAIL"
            where = f" ({gate.label})" if gate.label else ""
            rows.append(f"  {mark}  {name}{where}: {gate.value:.3f} (floor {gate.threshold:.3f})")
        return "\n".join(rows)

    def raise_if_failed(self, what: str = "model") -> None:
        if not self.passed:
            raise GateFailed(f"{what} failed its gates: " + "; ".join(self.failures()), self)

    def merged(self, other: GateReport) -> GateReport:
        return GateReport({**self.gates, **other.gates})


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
    candidate: Mapping[str, Any],
    deployed: Mapping[str, Any],
    margin: float = 0.01,
    per_class_margin: float = 0.05,
) -> GateReport:
    """No-regression gates: the candidate may trail the deployed model by at most ``margin``.

    Both metric dicts must come from the SAME evaluation data, or the comparison means nothing.
    A per-class drop larger than its allowance fails on the class that overshot most, so a
    retrain that buys macro-F1 by starving one team is caught. The allowance is
    ``per_class_margin`` or one ticket's worth of F1 (1 / support), whichever is larger: on a
    class with 8 rows a single ticket moves F1 by ~0.12, and a margin finer than that rejects
    good candidates on noise (seen in the first banking77 simulation).
    """
    report = GateReport()
    for key in ("macro_f1", "accuracy"):
        name = f"no_regression_{key}"
        report.gates[name] = _floor(name, candidate[key], float(deployed[key]) - margin)
    cand_classes = candidate.get("per_class", {})
    dep_classes = deployed.get("per_class", {})
    allowance = {
        label: max(per_class_margin, 1.0 / float(m["support"]))
        for label, m in dep_classes.items()
        if label in cand_classes and m.get("support", 0) > 0
    }
    if allowance:
        worst = min(
            allowance,
            key=lambda label: (
                cand_classes[label]["f1"] - dep_classes[label]["f1"] + allowance[label]
            ),
        )
        name = "no_regression_per_class_f1"
        report.gates[name] = _floor(
            name,
            cand_classes[worst]["f1"],
            float(dep_classes[worst]["f1"]) - allowance[worst],
            worst,
        )
    return report

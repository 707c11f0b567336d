"""A stored gate report read back as rows: one per evaluation set, with the figures behind it.

The learner stores each candidate's verdict (``learner.gates.Verdict.to_dict``) on its training
run and model version; the dashboard and ``triage models list`` both show it, so the reading of
that JSON lives here once, beside the rows it is stored in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models import regression_figures

#: the paired comparisons shown for every set, passed or not; a failed per-class gate is
#: already among the set's failures
HEADLINE_GATES = ("no_regression_macro_f1", "no_regression_accuracy")


@dataclass(frozen=True)
class GateRow:
    name: str
    passed: bool
    detail: str = ""
    figures: list[str] = field(default_factory=list)


def gate_rows(report: Mapping[str, Any] | None) -> list[GateRow]:
    """Passed or not, why not (its failures, or why the set was skipped), and the paired
    figures; a crashed run shows its error. Reports written before the paired gates (no
    ``interval``) show without figures."""
    if not report:
        return []
    if "error" in report:
        return [GateRow("run", passed=False, detail=str(report["error"]))]
    rows = []
    for name, verdict in (report.get("sets") or {}).items():
        if not isinstance(verdict, dict):
            continue
        detail = "; ".join(str(f) for f in verdict.get("failures") or [])
        if verdict.get("skipped"):
            detail = f"skipped: {verdict['skipped']}"
        gates = verdict.get("no_regression") or {}
        figures = [
            f"{gate}: {regression_figures(gates[gate])}"
            for gate in HEADLINE_GATES
            if isinstance(gates.get(gate), dict) and "interval" in gates[gate]
        ]
        rows.append(GateRow(str(name), bool(verdict.get("passed")), detail, figures))
    return rows

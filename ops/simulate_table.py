"""The simulation's report: one row per model the loop produced, read back from the registry
and the training runs (what the live learner recorded, not what the simulation expected)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store import Store


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


def rows_from_store(store: Store, starter: str) -> list[Row]:
    """Oldest first; the ``starter`` model was never gated (it was adopted), hence ``None``."""
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

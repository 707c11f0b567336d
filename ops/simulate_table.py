"""The simulation's report: one row per model the loop produced, read back from the registry
and the training runs (what the live learner recorded, not what the simulation expected)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ops.simulate_poison import PoisonReport
from store import Decided, Store


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


@dataclass(frozen=True)
class ClassRow:
    """One predicted class over the whole stream: how many of its decisions were routed, and
    how many of those the true label agrees with (routed tickets no person reviews).
    ``decided_on`` counts its decisions from its first routed one on (in stream order): under
    shadow mode, the traffic after the class switched on."""

    label: str
    decided: int
    routed: int
    routed_correct: int
    decided_on: int = 0

    @property
    def share(self) -> float:
        return self.routed / self.decided if self.decided else 0.0

    @property
    def share_on(self) -> float:
        return self.routed / self.decided_on if self.decided_on else 0.0

    @property
    def precision(self) -> float | None:
        return self.routed_correct / self.routed if self.routed else None


@dataclass
class SimulationResult:
    rows: list[Row]
    reference_macro_f1: float | None = None
    notes: list[str] = field(default_factory=list)
    #: per predicted class, then "(all)"; empty when the loop did not record them
    classes: list[ClassRow] = field(default_factory=list)
    #: the one global threshold as precise as this run: on the whole stream, then on the
    #: decisions made after each class switched on
    matched: list[MatchedGlobal] = field(default_factory=list)
    #: with ``--poison``: what became of the poisoner's corrections
    poison: PoisonReport | None = None

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
    lines.extend(render_classes(result.classes))
    if len(result.matched) == 2 and result.classes:
        whole, since_on = result.matched
        overall = result.classes[-1]
        lines.append("whole stream: " + whole.render(overall.share))
        lines.append("since each class switched on: " + since_on.render(overall.share_on))
    if result.poison is not None:
        lines.extend(result.poison.lines())
    lines.extend(result.notes)
    return "\n".join(lines)


def render_classes(classes: list[ClassRow]) -> list[str]:
    if not classes:
        return []
    lines = [
        "",
        f"{'class':<28} {'decided':>7} {'routed':>6} {'share':>6} {'precision':>9} "
        f"{'decided since on':>16} {'share since on':>14}",
    ]
    for row in classes:
        precision = "-" if row.precision is None else f"{row.precision:.4f}"
        lines.append(
            f"{row.label[:28]:<28} {row.decided:>7} {row.routed:>6} {row.share:>6.3f} "
            f"{precision:>9} {row.decided_on:>16} {row.share_on:>14.3f}"
        )
    return lines


def switched_on(decided: Mapping[str, Decided], truth: dict[str, str]) -> set[str]:
    """The stream's decisions made from their class's first routed one on (``truth`` is in
    stream order): under shadow mode, the traffic after each class switched on."""
    first_routed: set[str] = set()
    on = set()
    for ticket_id in truth:
        if ticket_id not in decided:
            continue
        if decided[ticket_id].band == "routed":
            first_routed.add(decided[ticket_id].label)
        if decided[ticket_id].label in first_routed:
            on.add(ticket_id)
    return on


def class_rows(
    decided: Mapping[str, Decided], truth: dict[str, str], on: set[str]
) -> list[ClassRow]:
    """Routed share and routed precision (against the true labels) per predicted class, of
    the stream's decisions (``store.decided_bands()``), then all of them together as
    ``(all)``; ``on`` are the decisions made after their class switched on (:func:`switched_on`)."""
    counts: dict[str, list[int]] = {}
    for ticket_id, true in truth.items():
        if ticket_id not in decided:
            continue
        label, band = decided[ticket_id].label, decided[ticket_id].band
        row = counts.setdefault(label, [0, 0, 0, 0])
        row[0] += 1
        if band == "routed":
            row[1] += 1
            row[2] += true == label
        row[3] += ticket_id in on
    rows = [ClassRow(label, *counts[label]) for label in sorted(counts)]
    total = [sum(column) for column in zip(*counts.values(), strict=True)] if counts else [0] * 4
    return [*rows, ClassRow("(all)", *total)] if rows else []


@dataclass(frozen=True)
class MatchedGlobal:
    """The fair comparison for per-class thresholds: the one global route threshold that routes
    the same decisions at least as precisely as the run did, and the share it routes. Same
    decisions, same confidences; only the threshold rule differs."""

    precision: float
    threshold: float | None
    share: float

    def render(self, run_share: float) -> str:
        if self.threshold is None:
            return f"no global threshold reaches this run's routed precision {self.precision:.4f}"
        return (
            f"one global threshold at this run's routed precision {self.precision:.4f}: "
            f"{self.threshold:.2f}, routing {self.share:.1%} of decisions "
            f"(this run: {run_share:.1%})"
        )


def matched_global(
    decided: Mapping[str, Decided],
    truth: dict[str, str],
    precision: float,
    only: set[str] | None = None,
) -> MatchedGlobal:
    """The lowest global threshold (0.01 steps) whose routed precision on the stream's
    decisions (``only`` these, if given), against the true labels, is at least ``precision``;
    novel tickets never route."""
    pairs = [
        (d, truth[t]) for t, d in decided.items() if t in truth and (only is None or t in only)
    ]
    for step in range(50, 100):
        threshold = step / 100
        routed = [d.label == true for d, true in pairs if d.confidence >= threshold and not d.novel]
        if routed and sum(routed) / len(routed) >= precision:
            return MatchedGlobal(precision, threshold, len(routed) / len(pairs))
    return MatchedGlobal(precision, None, 0.0)


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

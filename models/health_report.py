"""What data health changed and measured, as one report printed before training and kept in the
model's manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

ConflictPolicy = Literal["majority", "drop"]
#: The class-balance verdict (:func:`models.imbalance.imbalance_verdict` gives it)
Verdict = Literal["healthy", "modest", "meaningful", "severe"]


@dataclass
class HealthReport:
    """Everything :func:`prepare` changed and measured; rows_in equals rows_out plus every
    removal counter, so nothing is lost without a number."""

    rows_in: int
    rows_out: int
    exact_duplicates: int
    near_duplicates: int
    conflicting_duplicates: int
    quoted_replies_stripped: int
    signatures_stripped: int
    redactions: dict[str, int]
    class_counts: dict[str, int]
    entropy_nats: float
    entropy_normalised: float
    verdict: Verdict
    small_classes: list[str]
    label_renames: dict[str, str]
    source: str = ""
    empty_dropped: int = 0
    conflict_policy: ConflictPolicy = "majority"
    conflict_rows_dropped: int = 0
    #: near-identical texts with different labels; both kept, listed so a human can look.
    near_duplicate_conflicts: int = 0
    min_class_count: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        redacted = ", ".join(f"{kind} {n:,}" for kind, n in self.redactions.items())
        if self.conflict_policy == "majority":
            policy = "kept one row with the majority label, ties dropped"
        else:
            policy = "dropped every copy"
        lines = [
            f"Data health of {self.source or 'the data'}: {self.rows_in:,} rows in,"
            f" {self.rows_out:,} rows out",
            f"  exact duplicates removed     {self.exact_duplicates:>7,}",
            f"  near-duplicates removed      {self.near_duplicates:>7,}",
            f"  conflicting duplicates       {self.conflicting_duplicates:>7,} texts"
            f" ({policy}: {self.conflict_rows_dropped:,} rows removed)",
            f"  near-duplicates, 2 labels    {self.near_duplicate_conflicts:>7,} pairs (kept)",
            f"  empty after cleaning         {self.empty_dropped:>7,} rows removed",
            f"  quoted replies stripped      {self.quoted_replies_stripped:>7,}",
            f"  signatures stripped          {self.signatures_stripped:>7,}",
            f"  PII redacted                 {redacted}",
        ]
        if self.label_renames:
            lines.append(f"  labels renamed               {len(self.label_renames):>7,}")
            lines += [f"    {a!r} -> {b!r}" for a, b in sorted(self.label_renames.items())]
        width = max(len(label) for label in self.class_counts) if self.class_counts else 5
        width = min(max(width, 5), 60)
        lines.append("")
        lines.append(f"  {'class':<{width}}  {'rows':>7}  share")
        total = sum(self.class_counts.values()) or 1
        for label, count in sorted(self.class_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            flag = "  < min" if label in self.small_classes else ""
            shown = label if len(label) <= width else label[: width - 1] + "…"
            lines.append(f"  {shown:<{width}}  {count:>7,}  {count / total:6.1%}{flag}")
        k = len(self.class_counts)
        lines += [
            "",
            f"Entropy {self.entropy_nats:.3f} nats over {k} classes; normalised by ln({k}):"
            f" {self.entropy_normalised:.3f} -> {self.verdict}",
        ]
        if self.small_classes:
            lines.append(
                f"Classes under {self.min_class_count} rows: {', '.join(self.small_classes)}"
            )
        return "\n".join(lines)

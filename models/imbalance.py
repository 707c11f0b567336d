"""The class-balance verdict: normalised Shannon entropy of the label counts, read as healthy,
modest, meaningful or severe; a severe export is refused unless its owner insists."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from models.exceptions import DataError
from models.health_report import HealthReport, Verdict

#: Lower bounds of the normalised entropy for each verdict, best first.
VERDICT_FLOORS: tuple[tuple[float, Verdict], ...] = (
    (0.85, "healthy"),
    (0.70, "modest"),
    (0.50, "meaningful"),
)


def imbalance_verdict(entropy_normalised: float) -> Verdict:
    """>= 0.85 healthy, 0.70-0.85 modest, 0.50-0.70 meaningful, below 0.50 severe."""
    for floor, verdict in VERDICT_FLOORS:
        if entropy_normalised >= floor:
            return verdict
    return "severe"


def shannon_entropy(counts: Sequence[int]) -> tuple[float, float]:
    """(entropy in nats, entropy / ln k); a single class has normalised entropy 0."""
    total = sum(counts)
    present = [c for c in counts if c > 0]
    if total == 0 or len(present) < 2:
        return 0.0, 0.0
    nats = -sum(c / total * math.log(c / total) for c in present)
    return nats, nats / math.log(len(present))


def balance_fields(labels: Sequence[str], min_class_count: int) -> dict[str, Any]:
    """The report's class-balance part, computed in one place: counts (largest first), entropy,
    verdict, and the classes under ``min_class_count`` (smallest first)."""
    counts = Counter(labels)
    class_counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    nats, normalised = shannon_entropy(list(class_counts.values()))
    return {
        "class_counts": class_counts,
        "entropy_nats": nats,
        "entropy_normalised": normalised,
        "verdict": imbalance_verdict(normalised),
        "small_classes": [c for c, n in class_counts.items() if n < min_class_count][::-1],
        "min_class_count": min_class_count,
    }


def refuse_if_severe(report: HealthReport, *, force: bool = False) -> None:
    """Training on a severely imbalanced export yields a model that ignores its rare classes;
    stop unless the owner insists."""
    if report.verdict == "severe" and not force:
        raise DataError(severe_message(report))


def severe_message(report: HealthReport) -> str:
    rare = sorted(report.class_counts, key=report.class_counts.__getitem__)[:3]
    return (
        f"{report.source or 'the data'} is severely imbalanced (normalised entropy"
        f" {report.entropy_normalised:.3f} < 0.50; rarest classes: {', '.join(rare)}):"
        " training would refuse it unless --force is given; collect more rows of the rare"
        " classes or merge them with synonyms"
    )

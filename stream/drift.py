"""Drift watch: this worker's last N decisions against the served model's validation reference.

A model keeps its validation accuracy only while traffic looks like its validation data, and the
per-class route thresholds were fitted on reviewed traffic of the same kind. When the mix of
predicted labels shifts (a product launch, an outage, a new integration), the thresholds no
longer say what precision a class routes at. Nobody has reviewed the new traffic yet, so the
outputs are all there is to compare: the share of each predicted label, the novelty rate and the
top-1 confidence, over a sliding window of the last ``size`` fresh decisions, each against the
reference recorded in the model's manifest at training time (:mod:`models.reference`).

The comparison is the population stability index, ``sum((a - e) * ln(a / e))`` over bins, with
shares clipped to :data:`EPSILON` so a bin empty on one side counts as a large, finite shift.
The usual reading is < 0.1 stable, 0.1-0.2 moderate, > 0.2 a significant shift, hence the 0.2
default limit (``TRIAGE_DRIFT_PSI_LIMIT``). A window is judged only once it is full: on few
decisions the index is noise. Without a shift it is about ``(k - 1) * (1/n + 1/m)`` for k bins,
n window decisions and m reference rows; :class:`DriftWatch` logs a warning when that noise floor
reaches half the limit (a window too small for the label count).

Each worker watches its own window, labelled by the model version it serves. Tickets are spread
over partitions by id, so every worker sees a sample of the same traffic; Prometheus takes the
fleet view (``max by (version)``), and a worker that restarts starts an empty window.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import DRIFT_STATES, Decision, DriftState, DriftSummary

log = logging.getLogger(__name__)

#: a share clipped to this before the logarithm: an empty bin is a big shift, not infinity
EPSILON = 1e-4
#: the manifest key :mod:`models.reference` writes
MANIFEST_KEY = "drift_reference"
SIGNALS = ("label", "novelty", "confidence")
State = DriftState
STATES = DRIFT_STATES


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index of ``actual`` shares against ``expected`` ones (same bins)."""
    if len(expected) != len(actual):
        raise ValueError(f"psi needs the same bins: {len(expected)} expected, {len(actual)} actual")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, epsilon), max(a, epsilon)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True)
class DriftReference:
    """What the model predicted on its reference split (the manifest's ``drift_reference``)."""

    label_shares: Mapping[str, float]
    novelty_rate: float
    mean_confidence: float
    confidence_edges: tuple[float, ...]
    confidence_shares: tuple[float, ...]
    rows: int

    @classmethod
    def from_manifest(cls, raw: Any) -> DriftReference | None:
        """None for a manifest without one (written before drift watch): drift is unknown."""
        if raw is None:
            return None
        try:
            edges = tuple(float(x) for x in raw["confidence_edges"])
            shares = tuple(float(x) for x in raw["confidence_shares"])
            if len(edges) != len(shares) + 1:
                raise ValueError(f"{len(edges)} confidence edges for {len(shares)} shares")
            return cls(
                label_shares={str(k): float(v) for k, v in raw["label_shares"].items()},
                novelty_rate=float(raw["novelty_rate"]),
                mean_confidence=float(raw["mean_confidence"]),
                confidence_edges=edges,
                confidence_shares=shares,
                rows=int(raw["rows"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("ignoring the model's drift reference (%r): drift is unknown", exc)
            return None

    @classmethod
    def of(cls, model: Any) -> DriftReference | None:
        """The reference a loaded model carries in its manifest, if any."""
        manifest = getattr(model, "manifest", None)
        return cls.from_manifest(getattr(manifest, MANIFEST_KEY, None))

    def noise_floor(self, window: int) -> float:
        """About the label index of an undrifted window of ``window`` decisions (its expected
        value: a chi-square with k - 1 degrees of freedom, scaled by both sample sizes)."""
        return (len(self.label_shares) - 1) * (1 / window + 1 / max(self.rows, 1))


class DriftWindow:
    """The last ``size`` decisions, kept as running counts so a batch costs O(batch)."""

    def __init__(self, size: int, edges: Sequence[float]) -> None:
        if size < 1:
            raise ValueError(f"a drift window of {size} decisions cannot hold any; use >= 1")
        self.size = size
        self._edges = list(edges)
        self._items: deque[tuple[str, float, bool]] = deque()
        self.labels: Counter[str] = Counter()
        self.bins: Counter[int] = Counter()
        self.novel = 0
        self.confidence_sum = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.size

    def _bin(self, confidence: float) -> int:
        return min(max(bisect.bisect_right(self._edges, confidence) - 1, 0), len(self._edges) - 2)

    def add(self, label: str, confidence: float, novel: bool) -> None:
        if len(self._items) >= self.size:
            old_label, old_confidence, old_novel = self._items.popleft()
            self._count(old_label, old_confidence, old_novel, -1)
        self._items.append((label, confidence, novel))
        self._count(label, confidence, novel, 1)

    def _count(self, label: str, confidence: float, novel: bool, sign: int) -> None:
        self.labels[label] += sign
        self.bins[self._bin(confidence)] += sign
        self.novel += sign * novel
        self.confidence_sum += sign * confidence

    def shares(self) -> dict[str, float]:
        n = len(self._items)
        return {label: count / n for label, count in self.labels.items() if count} if n else {}

    @property
    def novelty_rate(self) -> float:
        return self.novel / len(self._items) if self._items else 0.0

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / len(self._items) if self._items else 0.0

    def psi(self, reference: DriftReference) -> dict[str, float]:
        """The index of each signal against ``reference``: labels (every label either side
        has), novel or not, and the confidence histogram."""
        n = len(self._items)
        shares = self.shares()
        names = sorted(set(reference.label_shares) | set(shares))
        bins = len(reference.confidence_shares)
        return {
            "label": psi(
                [reference.label_shares.get(x, 0.0) for x in names],
                [shares.get(x, 0.0) for x in names],
            ),
            "novelty": psi(
                [reference.novelty_rate, 1 - reference.novelty_rate],
                [self.novelty_rate, 1 - self.novelty_rate],
            ),
            "confidence": psi(reference.confidence_shares, [self.bins[i] / n for i in range(bins)]),
        }


@dataclass(frozen=True)
class DriftStatus:
    """What a scrape shows: the version watched, its state, and the figures behind it."""

    version: str
    state: State
    decisions: int
    reference: DriftReference | None
    window: DriftWindow | None
    psi: Mapping[str, float]

    @property
    def stale(self) -> bool:
        """The threshold set in force was fitted on traffic unlike this window's."""
        return self.state == "drifted"

    def summary(self, worker: str, window: int, limit: float) -> DriftSummary:
        """What the worker publishes to redis for the dashboard and `triage report bands`."""
        return DriftSummary(
            worker=worker,
            model_version=self.version,
            state=self.state,
            decisions=self.decisions,
            window=window,
            limit=limit,
            psi={k: round(v, 6) for k, v in self.psi.items()},
        )


class DriftWatch:
    """One worker's window, for the model version it serves now; a new version starts afresh
    (its own reference, and decisions of the old model say nothing about the new one)."""

    def __init__(self, size: int, limit: float) -> None:
        if limit <= 0:
            raise ValueError(f"a PSI limit of {limit} is always exceeded; use > 0 (0.2 usual)")
        self.size = size
        self.limit = limit
        self.version: str | None = None
        self.reference: DriftReference | None = None
        self.window: DriftWindow | None = None
        self._state: State = "unknown"

    def observe(self, model: Any, decisions: Iterable[Decision]) -> None:
        """Feed the fresh decisions ``model`` made in one acknowledged batch."""
        if model.version != self.version:
            self._start(model)
        if self.window is None:
            return
        for decision in decisions:
            if decision.model_version == self.version:
                self.window.add(decision.label, decision.confidence, decision.novel)
        self._judge()

    def _start(self, model: Any) -> None:
        self.version = model.version
        self.reference = DriftReference.of(model)
        self._state = "unknown"
        if self.reference is None:
            self.window = None
            log.info("model %s has no drift reference: drift is unknown", self.version)
            return
        self.window = DriftWindow(self.size, self.reference.confidence_edges)
        self._state = "filling"
        floor = self.reference.noise_floor(self.size)
        if floor >= self.limit / 2:
            log.warning(
                "drift window of %d decisions is small for model %s (%d labels, %d reference "
                "rows): an undrifted window scores about %.3f against the limit %.2f; raise "
                "TRIAGE_DRIFT_WINDOW, or train with more rows when the reference rows are few",
                self.size,
                self.version,
                len(self.reference.label_shares),
                self.reference.rows,
                floor,
                self.limit,
            )

    def _judge(self) -> None:
        window, reference = self.window, self.reference
        if window is None or reference is None or not window.full:
            return
        index = window.psi(reference)
        state: State = "drifted" if max(index.values()) > self.limit else "stable"
        if state != self._state:
            level = logging.WARNING if state == "drifted" else logging.INFO
            figures = ", ".join(f"{k} {v:.3f}" for k, v in index.items())
            log.log(
                level,
                "drift %s for model %s over the last %d decisions (PSI %s; limit %.2f)%s",
                state,
                self.version,
                len(window),
                figures,
                self.limit,
                ": its route thresholds are stale" if state == "drifted" else "",
            )
        self._state = state

    def summary(self, worker: str) -> DriftSummary | None:
        """None before the first batch (no version to speak for yet)."""
        status = self.status()
        return None if status is None else status.summary(worker, self.size, self.limit)

    def status(self) -> DriftStatus | None:
        """None before the first batch."""
        if self.version is None:
            return None
        window, reference = self.window, self.reference
        judged = window is not None and reference is not None and window.full
        return DriftStatus(
            version=self.version,
            state=self._state,
            decisions=len(window) if window is not None else 0,
            reference=reference,
            window=window,
            psi=window.psi(reference) if window is not None and reference and judged else {},
        )

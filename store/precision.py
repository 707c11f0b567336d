"""Band precision: how often people agreed with each band's decisions, per band and per class.

It is the check that the routed band - tickets no person looks at before they reach a team -
stays at or above its precision target (0.95). Only reviewed decisions count; when a ticket was
reviewed more than once, its latest correction is the reviewers' last word. A confirm is correct;
an override is wrong unless it names the decided label again.

Per head: a correction names its head, and counts for that head only, so a reviewer fixing the
intent inside a right team neither lowers the team's precision nor counts as a team review. A
child head's band is the one its decision gave it (by the global thresholds), copied onto the
correction with its label when it was stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, and_, case, func, select

from store.engine import Database
from store.exceptions import ReportError
from store.tables import BANDS, PRIMARY_HEAD, CorrectionRow, DecisionRow

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_window(value: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` -> a timedelta."""
    match = _WINDOW.match(value)
    if match is None or int(match.group(1)) == 0:
        raise ReportError(
            f"time window {value!r} is not understood; use a positive number and a unit of "
            "m, h, d or w (e.g. 24h or 7d)"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Precision:
    reviewed: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.reviewed if self.reviewed else None

    def as_dict(self) -> dict[str, Any]:
        return {"reviewed": self.reviewed, "correct": self.correct, "precision": self.precision}


@dataclass(frozen=True)
class BandRow:
    """One (band, predicted label) cell: the unit the SQL aggregates to."""

    band: str
    label: str
    reviewed: int
    correct: int


@dataclass(frozen=True)
class BandReport:
    since: datetime | None
    bands: dict[str, Precision]
    per_class: dict[str, dict[str, Precision]] = field(default_factory=dict)
    target: float = 0.95
    head: str = PRIMARY_HEAD

    @property
    def routed_below_target(self) -> bool:
        routed = self.bands["routed"].precision
        return routed is not None and routed < self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "head": self.head,
            "target": self.target,
            "routed_below_target": self.routed_below_target,
            "bands": {band: p.as_dict() for band, p in self.bands.items()},
            "per_class": {
                band: {label: p.as_dict() for label, p in labels.items()}
                for band, labels in self.per_class.items()
            },
        }


def summarize(
    rows: Iterable[BandRow],
    *,
    since: datetime | None = None,
    target: float = 0.95,
    head: str = PRIMARY_HEAD,
) -> BandReport:
    """Fold per-cell counts into per-band and per-class-per-band precision (pure, testable)."""
    totals = {band: [0, 0] for band in BANDS}
    per_class: dict[str, dict[str, Precision]] = {band: {} for band in BANDS}
    for row in rows:
        totals[row.band][0] += row.reviewed
        totals[row.band][1] += row.correct
        per_class[row.band][row.label] = Precision(row.reviewed, row.correct)
    return BandReport(
        since=since,
        bands={band: Precision(reviewed, correct) for band, (reviewed, correct) in totals.items()},
        per_class={band: dict(sorted(labels.items())) for band, labels in per_class.items()},
        target=target,
        head=head,
    )


def _latest_reviews(head: str = PRIMARY_HEAD) -> Subquery:
    """Each reviewed ticket's latest correction of ``head`` (``nth_latest == 1``): the
    reviewers' last word on it. An overturned correction is not: a second reviewer judged it
    wrong (``store.holds``)."""
    return (
        select(
            CorrectionRow.ticket_id,
            CorrectionRow.label,
            CorrectionRow.decided_label,
            CorrectionRow.decided_band,
            func.row_number()
            .over(
                partition_by=CorrectionRow.ticket_id,
                order_by=(CorrectionRow.corrected_at.desc(), CorrectionRow.id.desc()),
            )
            .label("nth_latest"),
        )
        .where(CorrectionRow.status != "overturned", CorrectionRow.head == head)
        .subquery()
    )


def band_precision(
    db: Database,
    *,
    since: datetime | None = None,
    target: float = 0.95,
    head: str = PRIMARY_HEAD,
) -> BandReport:
    """Precision of ``head``'s answers in decisions made since ``since`` (all time if None)
    that people reviewed; the primary head's by default."""
    latest = _latest_reviews(head)
    correct = case((latest.c.label == latest.c.decided_label, 1), else_=0)
    band, label = (
        (DecisionRow.band, DecisionRow.label)
        if head == PRIMARY_HEAD
        else (latest.c.decided_band, latest.c.decided_label)
    )
    stmt = (
        select(
            band.label("band"),
            label.label("label"),
            func.count().label("reviewed"),
            func.sum(correct).label("correct"),
        )
        .select_from(DecisionRow)
        .join(latest, latest.c.ticket_id == DecisionRow.ticket_id)
        .where(latest.c.nth_latest == 1)
        .group_by(band, label)
    )
    if since is not None:
        stmt = stmt.where(DecisionRow.decided_at >= since)
    with db.session() as session:
        rows = [
            BandRow(band=r.band, label=r.label, reviewed=int(r.reviewed), correct=int(r.correct))
            for r in session.execute(stmt)
        ]
    return summarize(rows, since=since, target=target, head=head)


def head_precision(
    db: Database, *, since: datetime | None = None, target: float = 0.95
) -> dict[str, BandReport]:
    """:func:`band_precision` of every head, the primary first, then each head some
    correction names (a head nobody corrected has nothing to report)."""
    with db.session() as session:
        named = set(session.scalars(select(CorrectionRow.head).distinct()))
    heads = [PRIMARY_HEAD, *sorted(named - {PRIMARY_HEAD})]
    return {h: band_precision(db, since=since, target=target, head=h) for h in heads}


@dataclass(frozen=True)
class PrecisionCurve:
    """Routed precision if the route threshold were each of ``thresholds``: of the reviewed,
    non-novel decisions of a model at or above the threshold, how many people agreed with.

    ``per_class[label][i]`` counts the decisions naming ``label`` at ``thresholds[i]``;
    ``overall[i]`` every label's. A label nobody reviewed is absent.
    """

    thresholds: tuple[float, ...]
    per_class: dict[str, tuple[Precision, ...]]
    overall: tuple[Precision, ...]

    def at(self, threshold: float, label: str | None = None) -> Precision | None:
        """The counts at one of ``thresholds`` (None: not one of them, or ``label`` unseen)."""
        if threshold not in self.thresholds:
            return None
        row = self.overall if label is None else self.per_class.get(label)
        return None if row is None else row[self.thresholds.index(threshold)]


def precision_curve(
    db: Database, thresholds: Sequence[float], *, model_version: str | None = None
) -> PrecisionCurve:
    """:class:`PrecisionCurve` of ``model_version``'s decisions (every version's if None), one
    query: a sum per threshold over the reviewed decisions, grouped by label. A novel decision
    is left out: it goes to a person whatever its confidence, so no threshold routes it."""
    chosen = tuple(sorted({float(t) for t in thresholds}))
    if not chosen or not all(0.0 <= t <= 1.0 for t in chosen):
        raise ReportError(
            f"thresholds {list(thresholds)[:5]} are not usable: give at least one, each "
            "between 0 and 1"
        )
    latest = _latest_reviews()
    right = latest.c.label == latest.c.decided_label
    sums = []
    for i, threshold in enumerate(chosen):
        above = DecisionRow.confidence >= threshold
        sums.append(func.sum(case((above, 1), else_=0)).label(f"n{i}"))
        sums.append(func.sum(case((and_(above, right), 1), else_=0)).label(f"k{i}"))
    stmt = (
        select(DecisionRow.label, *sums)
        .join(latest, latest.c.ticket_id == DecisionRow.ticket_id)
        .where(latest.c.nth_latest == 1, DecisionRow.novel.is_(False))
        .group_by(DecisionRow.label)
    )
    if model_version is not None:
        stmt = stmt.where(DecisionRow.model_version == model_version)
    per_class: dict[str, tuple[Precision, ...]] = {}
    with db.session() as session:
        for row in session.execute(stmt):
            counts = row._mapping
            per_class[row.label] = tuple(
                Precision(int(counts[f"n{i}"] or 0), int(counts[f"k{i}"] or 0))
                for i in range(len(chosen))
            )
    overall = tuple(
        Precision(
            sum(row[i].reviewed for row in per_class.values()),
            sum(row[i].correct for row in per_class.values()),
        )
        for i in range(len(chosen))
    )
    return PrecisionCurve(
        thresholds=chosen, per_class=dict(sorted(per_class.items())), overall=overall
    )


def render_band_report(report: BandReport) -> str:
    """A plain table for the terminal, the flag on its own line so it cannot be missed."""

    def fmt(p: Precision) -> str:
        value = "-" if p.precision is None else f"{p.precision:.3f}"
        return f"{p.reviewed:>9} {p.correct:>8} {value:>10}"

    window = f"decisions since {report.since.isoformat()}" if report.since else "all decisions"
    of_head = "" if report.head == PRIMARY_HEAD else f" of head {report.head!r}"
    lines = [f"band precision{of_head} over {window} (reviewed only)", ""]
    lines.append(f"{'band':<8} {'class':<28} {'reviewed':>9} {'correct':>8} {'precision':>10}")
    for band in BANDS:
        lines.append(f"{band:<8} {'(all)':<28} {fmt(report.bands[band])}")
        for label, p in report.per_class[band].items():
            lines.append(f"{'':<8} {label[:28]:<28} {fmt(p)}")
    routed = report.bands["routed"].precision
    lines.append("")
    if routed is None:
        lines.append("routed: no reviewed decisions in this window; nothing to check")
    elif report.routed_below_target:
        lines.append(
            f"ALERT: routed precision {routed:.3f} is below the target {report.target:.2f}"
        )
    else:
        lines.append(f"ok: routed precision {routed:.3f} >= target {report.target:.2f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Decided:
    """What a simulation needs of one stored decision to compare it with the true label, and
    to ask how another threshold would have banded it."""

    label: str
    band: str
    confidence: float
    novel: bool


def decided_bands(db: Database) -> dict[str, Decided]:
    """ticket id -> how every stored decision was decided: what a simulation compares with
    the true labels it knows (a person reviews only shadow and manual)."""
    columns = (DecisionRow.label, DecisionRow.band, DecisionRow.confidence, DecisionRow.novel)
    with db.session() as session:
        rows = session.execute(select(DecisionRow.ticket_id, *columns))
        return {
            row.ticket_id: Decided(row.label, row.band, float(row.confidence), bool(row.novel))
            for row in rows
        }

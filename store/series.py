"""The ops dashboard's and ``/metrics``' numbers, aggregated in SQL from the stored decisions.

Throughput, latency and band shares come from the decisions the recorder stored: ``received_at``
is the broker timestamp of the source ticket and ``decided_at`` the worker's clock, so latency is
the time a ticket waited plus the time it took. Time arithmetic is done in SQL per dialect
(SQLite has no interval type), so the table is never loaded into Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, func, select

from store.engine import Database
from store.tables import BANDS, CorrectionRow, DecisionRow

#: Latency histogram buckets (seconds): from "kept up" to "a real backlog".
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def latency_seconds(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        days = func.julianday(DecisionRow.decided_at) - func.julianday(DecisionRow.received_at)
        return days * 86400.0
    return cast(func.extract("epoch", DecisionRow.decided_at - DecisionRow.received_at), Float)


def minute_bucket(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%dT%H:%M", DecisionRow.decided_at)
    return func.to_char(func.date_trunc("minute", DecisionRow.decided_at), 'YYYY-MM-DD"T"HH24:MI')


@dataclass(frozen=True)
class LatencyHistogram:
    """Cumulative counts per upper bound, over every decision with a known receive time."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total_s: float


@dataclass(frozen=True)
class Throughput:
    """Decisions over a recent window, and their latency percentiles (None with no latency)."""

    window_s: float
    decisions: int
    tickets_per_s: float
    latency_p50_s: float | None
    latency_p95_s: float | None


def latency_histogram(db: Database) -> LatencyHistogram:
    latency = latency_seconds(db.dialect)
    known = DecisionRow.received_at.is_not(None)
    columns = [func.sum(case((and_(known, latency <= b), 1), else_=0)) for b in LATENCY_BUCKETS]
    stmt = select(
        *columns,
        func.sum(case((known, 1), else_=0)),
        func.sum(case((known, latency), else_=0.0)),
    )
    with db.session() as session:
        row = session.execute(stmt).one()
    values = [int(v or 0) for v in row[: len(LATENCY_BUCKETS)]]
    return LatencyHistogram(
        buckets=tuple(zip(LATENCY_BUCKETS, values, strict=True)),
        count=int(row[-2] or 0),
        total_s=float(row[-1] or 0.0),
    )


def decision_counts(db: Database) -> dict[tuple[str, str], int]:
    """(band, label) -> decisions stored."""
    stmt = select(DecisionRow.band, DecisionRow.label, func.count()).group_by(
        DecisionRow.band, DecisionRow.label
    )
    with db.session() as session:
        return {(band, label): int(n) for band, label, n in session.execute(stmt)}


def correction_counts(db: Database) -> dict[str, int]:
    """action -> corrections stored."""
    stmt = select(CorrectionRow.action, func.count()).group_by(CorrectionRow.action)
    with db.session() as session:
        return {action: int(n) for action, n in session.execute(stmt)}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (exact on the values, no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def throughput(db: Database, now: datetime, window: timedelta, limit: int = 20_000) -> Throughput:
    """Tickets/s and p50/p95 latency over the last ``window`` (newest ``limit`` decisions)."""
    latency = latency_seconds(db.dialect)
    stmt = (
        select(latency)
        .where(DecisionRow.decided_at >= now - window, DecisionRow.received_at.is_not(None))
        .order_by(DecisionRow.decided_at.desc())
        .limit(limit)
    )
    count_stmt = select(func.count()).where(DecisionRow.decided_at >= now - window)
    with db.session() as session:
        latencies = [float(v) for v in session.scalars(stmt)]
        decided = int(session.scalar(count_stmt) or 0)
    return Throughput(
        window_s=window.total_seconds(),
        decisions=decided,
        tickets_per_s=decided / window.total_seconds(),
        latency_p50_s=percentile(latencies, 0.50),
        latency_p95_s=percentile(latencies, 0.95),
    )


def band_shares(db: Database, now: datetime, minutes: int = 30) -> list[dict[str, Any]]:
    """Decisions per band per minute for the last ``minutes`` (minutes with none are zeros)."""
    bucket = minute_bucket(db.dialect)
    since = (now - timedelta(minutes=minutes - 1)).replace(second=0, microsecond=0)
    stmt = (
        select(bucket.label("minute"), DecisionRow.band, func.count())
        .where(DecisionRow.decided_at >= since)
        .group_by("minute", DecisionRow.band)
    )
    with db.session() as session:
        found = {(minute, band): int(n) for minute, band, n in session.execute(stmt)}
    series = []
    for i in range(minutes):
        minute = (since + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
        series.append({"minute": minute, **{b: found.get((minute, b), 0) for b in BANDS}})
    return series

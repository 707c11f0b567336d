"""The ops dashboard's store half: the store's series, shaped as the page's JSON.

The numbers are aggregated by the store (:meth:`store.Store.throughput`, ``band_shares``,
``band_precision``...); this module only picks and formats them, so the dashboard and
``/metrics`` cannot count the same thing two ways.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from models import ModelError, read_failure_clusters, review_status
from schemas import DriftSummary
from store import FlagRule, Store, gate_rows

log = logging.getLogger(__name__)


def models(store: Store) -> dict[str, Any]:
    current = store.deployed_model()
    history = [
        {
            "run_id": r.id,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "corrections_used": r.corrections_used,
            "candidate_version": r.candidate_version,
            "outcome": r.outcome,
            "gates": gate_summary(r.report),
        }
        for r in store.retrain_history(limit=20)
    ]
    return {
        "current_version": current.version if current else None,
        "deployed_at": current.deployed_at.isoformat() if current and current.deployed_at else None,
        "versions": [
            {"version": r.version, "status": r.status, "gates": gate_summary(r.gate_report)}
            for r in store.model_versions()[:20]
        ],
        "runs": history,
        "failure_clusters": failure_clusters(current.model_dir if current else None),
    }


def failure_clusters(model_dir: str | None) -> list[dict[str, Any]]:
    """The deployed model's failure clusters from the report training saved beside it (none for
    a model saved before clusters existed); a broken report is logged, the rest still shows."""
    if model_dir is None:
        return []
    try:
        return read_failure_clusters(Path(model_dir))
    except ModelError as exc:
        log.warning("failure clusters of %s not shown: %s", model_dir, exc)
        return []


def gate_summary(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per evaluation set of a gate report (see :func:`store.gate_rows`)."""
    return [asdict(row) for row in gate_rows(report)]


def thresholds(store: Store, drift: Sequence[DriftSummary]) -> dict[str, Any] | None:
    """Per class, how far from switching on: a refit on today's reviews by the rule of the set
    in force (the web has no policy settings of its own), stale while a worker of the deployed
    model reports drift. The same status `triage report bands` prints; None: nothing deployed."""
    record = store.deployed_model()
    if record is None:
        return None
    try:
        status, _fitted = review_status(
            store.precision_curve, Path(record.model_dir), record.version, drift=drift
        )
    except ModelError as exc:  # a broken thresholds.json: the rest of the dashboard still shows
        log.warning("per-class thresholds of %s not shown: %s", record.version, exc)
        return None
    return status.model_dump(mode="json")


def snapshot(
    store: Store,
    now: datetime | None = None,
    flag_rule: FlagRule | None = None,
    drift: Sequence[DriftSummary] = (),
) -> dict[str, Any]:
    """Everything the dashboard shows that lives in the store, and the workers' ``drift``
    summaries (from redis) beside the per-class thresholds they may make stale."""
    now = now or datetime.now(UTC)
    reviewers = store.reviewer_records(flag_rule or FlagRule())
    return {
        "now": now.isoformat(),
        "recent": asdict(store.throughput(now, timedelta(seconds=60))),
        "band_shares": store.band_shares(now),
        "precision": store.band_precision().as_dict(),
        "models": models(store),
        "corrections": store.correction_counts(),
        # reviewers whose corrections were ever held: flagged ones first (second review)
        "reviewers": [record.as_dict() for record in reviewers],
        "held_waiting": sum(record.pending for record in reviewers),
        "thresholds": thresholds(store, drift),
        "drift": [summary.model_dump(mode="json") for summary in drift],
    }

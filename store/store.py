"""The active-learning store: every decision, every reviewer correction, every training run and
model version, behind one typed door.

:class:`Store` is what the learner, the web and the CLI hold; its methods are the only way they
read or write SQL. Each method *is* a function of the module that owns the query (``records``,
``runs``, ``queue``, ``registry``, ``corrections``, ``precision``, ``series``): those take the
plain :class:`~store.engine.Database` this class extends as their first argument, so they bind
as methods here without a wrapper that repeats their signatures, and none of them imports this
module (no cycle).
"""

from __future__ import annotations

from store import corrections, holds, precision, queue, records, registry, runs, series
from store.engine import Database, open_engine


class Store(Database):
    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect and (by default) migrate, so a fresh database is usable at once."""
        return cls(open_engine(url, upgrade=upgrade))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # decisions and corrections in (the recorder), and the lookups of the review
    add_decision = records.add_decision
    add_correction = records.add_correction
    first_reviewer = records.first_reviewer
    decision_of = records.decision_of
    decided_head_label = records.decided_head_label
    count_decisions = records.count_decisions
    count_corrections = records.count_corrections
    reviewable_decisions = records.reviewable_decisions
    unreviewed_routed_texts = records.unreviewed_routed_texts

    # training (the retrain trigger)
    unused_corrections_count = records.unused_corrections_count
    training_corrections = records.training_corrections
    start_run = runs.start_run
    finish_run = runs.finish_run
    mark_used = runs.mark_used
    close_interrupted_runs = runs.close_interrupted_runs
    retrain_history = runs.retrain_history
    runs_by_candidate = runs.runs_by_candidate
    finished_runs = runs.finished_runs

    # the model registry
    register_candidate = registry.register_candidate
    mark_deployed = registry.mark_deployed
    mark_rejected = registry.mark_rejected
    roll_back_to = registry.rollback
    deployed_model = registry.deployed
    model_versions = registry.list_versions

    # the review queue, reports, and the dashboard's and /metrics' series
    review_queue = queue.query
    band_precision = precision.band_precision
    head_precision = precision.head_precision
    precision_curve = precision.precision_curve
    decided_bands = precision.decided_bands
    latency_histogram = series.latency_histogram
    decision_counts = series.decision_counts
    correction_counts = series.correction_counts
    run_counts = runs.run_counts
    throughput = series.throughput
    band_shares = series.band_shares

    # corrections management (admins; the learner holds a rejected run's)
    list_corrections = corrections.list_corrections
    audit_log = corrections.audit_log
    quarantine = corrections.quarantine
    release = corrections.release
    delete_corrections = corrections.delete_corrections
    quarantine_rejected_run = corrections.quarantine_rejected_run

    # second review of held corrections, and the reviewers it flags
    held_corrections = holds.held_corrections
    judge_held = holds.judge
    reviewer_records = holds.reviewer_records

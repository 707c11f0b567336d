"""Errors of the learner package (retraining, gating, deploying); the store's own errors live
in :mod:`store.exceptions`."""

from schemas import TriageError


class LearnerError(TriageError):
    """Root of errors raised by ``learner``."""


class RetrainError(LearnerError):
    """Training a candidate cannot start (no gold set, bad data)."""

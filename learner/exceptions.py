"""Errors of the learner package: the store, the model registry, the review queue and reports."""

from schemas.exceptions import TriageError


class LearnerError(TriageError):
    """Root of errors raised by ``learner``."""


class StoreError(LearnerError):
    """The store cannot be opened or migrated (bad URL, unreachable server, foreign schema)."""


class RegistryError(LearnerError):
    """A model-version transition is not allowed (unknown version, rollback to a rejected one)."""


class ReportError(LearnerError):
    """A report was asked for with arguments it cannot use (e.g. an unparsable time window)."""


class RetrainError(LearnerError):
    """Training a candidate cannot start (no gold set, bad data)."""

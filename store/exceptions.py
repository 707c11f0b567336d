"""Errors of the store: opening it, and the requests it refuses (registry, queue, corrections,
reports). Every one derives from :class:`StoreError`, so a caller that only needs "the store said
no" catches one class; each message names the value and the fix."""

from schemas import TriageError


class StoreError(TriageError):
    """Root of the store's errors; raised itself when the store cannot be opened or migrated
    (bad URL, unreachable server, foreign schema) or a row it was asked to change is missing."""


class StoreUnavailable(StoreError):
    """The database stayed unreachable for longer than the caller was willing to wait."""


class RegistryError(StoreError):
    """A model-version transition is not allowed (unknown version, rollback to a rejected one)."""


class QueueError(StoreError):
    """The review queue was asked for something it does not hold (a routed band, a cap < 1)."""


class ReportError(StoreError):
    """A report was asked for with arguments it cannot use (e.g. an unparsable time window)."""


class CorrectionsError(StoreError):
    """A management request that cannot apply (nothing selected, no actor or reason)."""


class CorrectionsNotFound(CorrectionsError):
    """The selection names corrections that are not stored (a typo, or already deleted)."""


class NotHeld(CorrectionsError):
    """A verdict for a correction that is not waiting for one (judged already, or never held)."""


class OwnCorrection(CorrectionsError):
    """A reviewer tried to be the second reviewer of their own correction."""

"""The bus package's errors: one root, messages that name the setting and the fix."""

from __future__ import annotations

from schemas import TriageError


class BusError(TriageError):
    """Root of every error raised by the broker and redis plumbing."""


class ConnectionConfigError(BusError):
    """A connection setting is missing, contradictory or points at a file that is not there."""


class PublishFailed(BusError):
    """The broker did not acknowledge a record: nothing may be counted or marked published."""


class TopicMissing(BusError):
    """An output topic does not exist and this profile may not create it."""


class BrokerStateLost(BusError):
    """Topics vanished while the service ran: its consumer positions can no longer be trusted."""


class DecisionCacheError(BusError):
    """redis refused to keep a decision (eviction, out of memory)."""

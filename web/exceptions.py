"""Errors of the web service; every one derives from :class:`WebError`."""

from __future__ import annotations

from schemas.exceptions import TriageError


class WebError(TriageError):
    """Root of the web service's errors."""


class ConfigError(WebError):
    """The web settings (users, tokens, secret) cannot be used as given."""


class AlreadyReviewed(WebError):
    """Another reviewer acted on this ticket first; the first action stands."""

    def __init__(self, ticket_id: str, reviewer: str) -> None:
        self.ticket_id = ticket_id
        self.reviewer = reviewer
        super().__init__(f"ticket {ticket_id!r} was already reviewed by {reviewer}")


class NotReviewable(WebError):
    """The ticket is not in the review queue (unknown, or a routed decision)."""


class BadLabel(WebError):
    """A reviewer named a label the deployed model does not know."""


class PublishFailed(WebError):
    """The broker did not ack a correction; nothing was recorded."""

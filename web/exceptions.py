"""Errors of the web service; every one derives from :class:`WebError`."""

from __future__ import annotations

from schemas import TriageError

#: The most of any request value an answer repeats: enough to recognise it, never a payload.
ECHO_CHARS = 64


def clip(value: str, limit: int = ECHO_CHARS) -> str:
    """A request value fit to echo back in an error: at most ``limit`` characters."""
    return value if len(value) <= limit else f"{value[: limit - 1]}… ({len(value)} chars)"


class WebError(TriageError):
    """Root of the web service's errors."""


class ConfigError(WebError):
    """The web settings (users, tokens, secret) cannot be used as given."""


class AlreadyReviewed(WebError):
    """Another reviewer acted on this ticket first; the first action stands."""

    def __init__(self, ticket_id: str, reviewer: str) -> None:
        self.ticket_id = ticket_id
        self.reviewer = reviewer
        super().__init__(f"ticket {clip(ticket_id)!r} was already reviewed by {reviewer}")


class NotReviewable(WebError):
    """The ticket is not in the review queue (unknown, or a routed decision)."""


class BadLabel(WebError):
    """A reviewer named a label the deployed model does not know."""


class BadHead(WebError):
    """A reviewer named a head the deployed model, or the ticket's decision, does not have."""


class PublishFailed(WebError):
    """The broker did not ack a correction; nothing was recorded."""

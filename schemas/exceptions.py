"""The project's root exception.

Every package derives its own errors from :class:`TriageError`, so a caller can catch one type at
the edge (the CLI turns it into a clear message and a non-zero exit) without swallowing bugs.
Messages name the offending value and say what to do about it.
"""


class TriageError(Exception):
    """Root of every error this project raises on purpose."""


class InvalidEvent(TriageError):
    """A message on a topic does not match its schema; ``reason`` is written for a person.

    ``kind`` is one of ``schemas.events.DEAD_LETTER_KINDS``: a bounded label for dashboards.
    """

    def __init__(self, reason: str, kind: str = "schema") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind

"""Errors of the streaming path. Bad *events* are not errors here: they become dead letters."""

from schemas import TriageError


class StreamError(TriageError):
    """Root of errors raised by ``stream``."""


class ProduceError(StreamError):
    """An export cannot be published as it is (unreadable file, unknown column, ...)."""

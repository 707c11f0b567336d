"""Errors of the operations tooling (embedded stack, CLI plumbing)."""

from schemas import TriageError


class OpsError(TriageError):
    """Root of errors raised by ``ops``."""


class StackError(OpsError):
    """The embedded stack could not be started, reached or stopped."""


class SimulationError(OpsError):
    """`triage simulate` cannot run (bad input) or the live system stopped answering."""

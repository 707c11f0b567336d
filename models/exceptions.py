"""Errors of the model package: data, training, artifacts."""

import click

from schemas import TriageError


class ModelError(TriageError):
    """Root of errors raised by ``models``."""


class DataError(ModelError):
    """A labelled export cannot be used as it is (missing column, blanks, one class, ...)."""


class SevereImbalance(DataError, click.ClickException):
    """`triage data inspect` printed its report and the labels are too imbalanced to train on.

    A click exception so the command exits with status 3 (not the 2 of every other error): a
    script can tell "the data would be refused" from "the command failed"."""

    exit_code = 3


class ArtifactError(ModelError):
    """A model directory is missing, incomplete or of an unknown format."""


class ModelMissing(ArtifactError):
    """No model directory where one was expected: a deployment nobody initialised yet."""


class GateFailed(ModelError):
    """A model did not pass its eval pack; ``report`` says which gate and class."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report

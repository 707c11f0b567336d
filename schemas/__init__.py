"""Events on the topics and the topic names: the contract every other package speaks."""

from schemas.drift import DRIFT_STATES, DriftState, DriftSummary
from schemas.events import (
    BANDS,
    CORRECTION_HEAD,
    DEAD_LETTER_KINDS,
    Band,
    Correction,
    DeadLetter,
    DeadLetterKind,
    Decision,
    HeadDecision,
    LabelScore,
    ModelDeployed,
    Ticket,
)
from schemas.exceptions import InvalidEvent, TriageError
from schemas.topics import Topics

__all__ = [
    "BANDS",
    "CORRECTION_HEAD",
    "DEAD_LETTER_KINDS",
    "DRIFT_STATES",
    "Band",
    "Correction",
    "DeadLetter",
    "DeadLetterKind",
    "Decision",
    "DriftState",
    "DriftSummary",
    "HeadDecision",
    "InvalidEvent",
    "LabelScore",
    "ModelDeployed",
    "Ticket",
    "Topics",
    "TriageError",
]

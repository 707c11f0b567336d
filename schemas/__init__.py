"""Events on the topics and the topic names: the contract every other package speaks."""

from schemas.events import (
    BANDS,
    DEAD_LETTER_KINDS,
    Band,
    Correction,
    DeadLetter,
    DeadLetterKind,
    Decision,
    LabelScore,
    ModelDeployed,
    Ticket,
)
from schemas.exceptions import InvalidEvent, TriageError
from schemas.topics import Topics

__all__ = [
    "BANDS",
    "DEAD_LETTER_KINDS",
    "Band",
    "Correction",
    "DeadLetter",
    "DeadLetterKind",
    "Decision",
    "InvalidEvent",
    "LabelScore",
    "ModelDeployed",
    "Ticket",
    "Topics",
    "TriageError",
]

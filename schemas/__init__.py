"""Events on the topics and the topic names: the contract every other package speaks."""

from schemas.events import (
    BANDS,
    Band,
    Correction,
    DeadLetter,
    Decision,
    LabelScore,
    ModelDeployed,
    Ticket,
)
from schemas.exceptions import InvalidEvent, TriageError
from schemas.topics import Topics

__all__ = [
    "BANDS",
    "Band",
    "Correction",
    "DeadLetter",
    "Decision",
    "InvalidEvent",
    "LabelScore",
    "ModelDeployed",
    "Ticket",
    "Topics",
    "TriageError",
]

"""Dead letters: a bad message is kept whole, with where it came from and what to do about it.

The policy of every stage: input a person can fix becomes a dead letter on
``tickets.dead-letter`` and the stream moves on; anything else (broker, redis, model failures)
crashes the worker so it restarts from the last committed offset and nothing is lost.
"""

from __future__ import annotations

from typing import Any

from schemas.events import DeadLetter


def dead_letter(message: Any, *, stage: str, reason: str) -> DeadLetter:
    """A dead letter for a faust ``Message`` (value/key still raw bytes)."""
    return DeadLetter.from_raw(
        message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        stage=stage,
        reason=reason,
    )

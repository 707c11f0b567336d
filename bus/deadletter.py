"""Dead letters: where a bad message came from, what kind of fault it is, and what to do.

A letter keeps at most :data:`MAX_PAYLOAD_BYTES` of the original bytes plus their full size and
SHA-256, so it always fits the producer's request limit however large the original was (a
10 MB body once crash-looped the worker with MessageSizeTooLargeError). The hash lets an
operator match a letter to the integration's own copy of the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bus.producer import Send
from schemas import DEAD_LETTER_KINDS, DeadLetter, DeadLetterKind

log = logging.getLogger(__name__)

#: Original bytes kept in a letter: enough to see what was wrong, far below 1 MB.
MAX_PAYLOAD_BYTES = 16 * 1024
#: Longest reason text kept (reasons are ours, but may quote input).
MAX_REASON_CHARS = 2000


@dataclass
class StageOutcome:
    """What every stream stage reports of a batch beside its own counts: the messages it had
    seen already (dropped as duplicates) and the ones it dead-lettered. Both are acknowledged,
    so both are counted; nothing leaves a batch uncounted."""

    duplicates: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


def dead_letter(message: Any, *, stage: str, kind: str, reason: str) -> DeadLetter:
    """A dead letter for a faust ``Message`` whose key and value are still raw bytes."""
    letter = DeadLetter.from_raw(
        message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        stage=stage,
        kind=cast(DeadLetterKind, kind if kind in DEAD_LETTER_KINDS else "other"),
        reason=reason[:MAX_REASON_CHARS],
        max_payload_bytes=MAX_PAYLOAD_BYTES,
    )
    log.warning(
        "dead letter %s[%d]@%d (%s): %s",
        letter.topic,
        letter.partition,
        letter.offset,
        kind,
        letter.reason[:300],
    )
    return letter


async def publish_letters(letters: Sequence[DeadLetter], topic: str, send: Send) -> None:
    """Publish every letter and wait for every ack."""
    acks: list[Awaitable[Any]] = []
    for letter in letters:
        key = letter.key.encode("utf-8") if letter.key is not None else None
        acks.append(await send(topic, key, letter.model_dump_json().encode("utf-8")))
    await asyncio.gather(*acks)

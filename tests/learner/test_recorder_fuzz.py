"""Property-based fuzz of the correction and decision parsers in the recorder (issue 10,
point 6): whatever bytes arrive on tickets.corrections or a band topic, the stage stores them or
dead-letters them with a kind and a reason; no exception escapes to crash the service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learner.recorder import RecordStage
from schemas.events import DEAD_LETTER_KINDS, DeadLetter
from schemas.topics import Topics
from store import Store


@dataclass
class Message:
    value: bytes | None
    key: bytes | None = b"k"
    topic: str = "tickets.corrections"
    partition: int = 0
    offset: int = 0


@dataclass
class Event:
    message: Message


class Recorder:
    """Stands in for the producer (the dead letters are what is asserted); acks at once."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def __call__(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def correction_like() -> st.SearchStrategy[bytes]:
    fields = st.fixed_dictionaries(
        {},
        optional={
            "correction_id": st.text(max_size=200) | st.integers(),
            "ticket_id": st.text(max_size=20) | st.none(),
            "label": st.sampled_from(["cards", "transfers", "x"]) | st.text(max_size=10),
            "reviewer": st.text(max_size=10),
            "action": st.sampled_from(["confirm", "override", "delete"]),
            "note": st.text(max_size=50) | st.none(),
            "corrected_at": st.text(max_size=30),
        },
    )
    return fields.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=300)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> RecordStage:
    path: Path = tmp_path_factory.mktemp("fuzz") / "store.db"
    return RecordStage(
        store=Store.open(f"sqlite:///{path}"),
        topics=Topics(),
        labels=lambda: frozenset({"cards", "transfers"}),
        executor=ThreadPoolExecutor(max_workers=1),
    )


def run(stage: RecordStage, handler: str, values: list[bytes]) -> tuple[Any, Recorder]:
    send = Recorder()
    events = [Event(Message(v, offset=i)) for i, v in enumerate(values)]
    outcome = asyncio.run(getattr(stage, handler)(events, send))
    return outcome, send


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(correction_like(), min_size=1, max_size=5))
def test_corrections_are_stored_or_dead_lettered_with_a_reason(
    stage: RecordStage, values: list[bytes]
) -> None:
    outcome, send = run(stage, "corrections", values)
    assert outcome.stored + outcome.duplicates + len(outcome.dead_letters) == len(values)
    for raw in send.sent:
        letter = DeadLetter.model_validate_json(raw)
        assert letter.reason
        assert letter.kind in DEAD_LETTER_KINDS


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=300) | correction_like(), min_size=1, max_size=5))
def test_decisions_are_stored_or_dead_lettered_with_a_reason(
    stage: RecordStage, values: list[bytes]
) -> None:
    outcome, send = run(stage, "decisions", values)
    assert outcome.stored + outcome.duplicates + len(outcome.dead_letters) == len(values)
    assert all(DeadLetter.model_validate_json(raw).reason for raw in send.sent)

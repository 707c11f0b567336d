"""The redis model pointer: which model directory every worker must serve right now.

A pointer in redis, not a message on ``models.deployed``, because every worker of a consumer
group must see it (a topic partition reaches one member), and a restarted worker must find it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass(frozen=True)
class ModelPointer:
    """``triage:<prefix>model:current``: the version and directory workers serve."""

    version: str
    model_dir: Path

    @staticmethod
    def key(namespace: str) -> str:
        return f"triage:{namespace}model:current"

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "model_dir": str(self.model_dir)})

    @classmethod
    def from_json(cls, raw: bytes | str) -> ModelPointer:
        data = json.loads(raw)
        return cls(version=str(data["version"]), model_dir=Path(data["model_dir"]))


def read_pointer(client: redis.Redis, namespace: str) -> ModelPointer | None:
    raw = client.get(ModelPointer.key(namespace))
    return None if raw is None else ModelPointer.from_json(raw)


def write_pointer(
    client: redis.Redis, namespace: str, pointer: ModelPointer, *, only_if_unset: bool
) -> bool:
    return bool(client.set(ModelPointer.key(namespace), pointer.to_json(), nx=only_if_unset))

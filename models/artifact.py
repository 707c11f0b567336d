"""The model artifact: one directory format and ONE loader, used by worker, CLI and learner.

Backends (how each ``kind`` is fitted and loaded) are registered in :mod:`models.backends`.

Layout (``format_version`` 1)::

    <dir>/
      manifest.json      # what this is: kind, version, heads, labels, calibration, thresholds,
                         # novelty, data hash and row counts, metrics, gate results
      ...                # backend files named in the manifest (adapter/, heads/, vectorizer/ ...)

``heads`` is a mapping so a second head (sub-team under team, urgency, a multi-label head) is a new
entry, not a new format. ``primary_head`` is the one that bands and routes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.backends import backend, resolve
from models.base import Classifier
from models.exceptions import ArtifactError, ModelMissing

FORMAT = "triage-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: the name of the head that bands and routes, unless a manifest names another
PRIMARY_HEAD = "label"


class Head(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["multiclass", "multilabel"] = "multiclass"
    labels: list[str]
    temperature: float = Field(1.0, gt=0)
    parent_head: str | None = None  # for a hierarchical head (sub-team under team)


class Manifest(BaseModel):
    """Everything a reader needs to know before touching weights. Unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    format: Literal["triage-model"] = "triage-model"
    format_version: int = FORMAT_VERSION
    kind: str
    version: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    heads: dict[str, Head]
    primary_head: str = PRIMARY_HEAD
    thresholds: dict[str, float] = Field(default_factory=lambda: {"route": 0.85, "shadow": 0.60})
    backend: dict[str, Any] = Field(default_factory=dict)
    novelty: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    gates: dict[str, Any] = Field(default_factory=dict)
    parent_version: str | None = None

    @property
    def labels(self) -> list[str]:
        return self.heads[self.primary_head].labels


def new_version(data_hash: str, when: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<6 hex>``: sortable by time, unique per training data."""
    when = when or datetime.now(UTC)
    return f"{when:%Y%m%d-%H%M%S}-{data_hash[:6]}"


def hash_texts(texts: list[str], labels: list[str]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1f")
        digest.update(label.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def read_manifest(path: Path) -> Manifest:
    path = Path(path)
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise ModelMissing(
            f"model directory {path} does not exist; train one with `triage train` "
            "or point TRIAGE_MODEL_DIR at an existing model"
        )
    if not manifest_path.is_file():
        raise ArtifactError(
            f"{path} has no {MANIFEST}: it is not a model directory written by `triage train`"
        )
    try:
        manifest = Manifest.model_validate_json(manifest_path.read_text("utf-8"))
    except (ValidationError, ValueError) as exc:
        raise ArtifactError(f"{manifest_path} is not a valid manifest: {exc}") from exc
    if manifest.format_version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format_version {manifest.format_version}; this code reads up to "
            f"{FORMAT_VERSION}: upgrade the package"
        )
    return manifest


def write_manifest(path: Path, manifest: Manifest) -> None:
    path.mkdir(parents=True, exist_ok=True)
    text = manifest.model_dump_json(indent=2)
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(text + "\n", "utf-8")
    tmp.replace(path / MANIFEST)


def load(path: Path | str, device: str = "auto", runtime: str = "auto") -> Classifier:
    """Load any model directory. The only loader: worker, CLI and learner all call this.

    ``runtime`` (``auto``, ``torch``, ``onnx``): ``auto`` serves a validated faster export when
    the artifact has one, else the backend's own code; ``onnx`` insists on it.
    """
    path = Path(path)
    manifest = read_manifest(path)
    entry = backend(manifest.kind, str(path))
    model: Classifier = resolve(entry.model).load(path, manifest, device)
    if runtime not in ("auto", "torch", "onnx"):
        raise ArtifactError(f"runtime {runtime!r} is unknown: use auto, torch or onnx")
    if entry.runtime is not None and runtime != "torch":
        model = resolve(entry.runtime)(model, path, manifest, runtime)
    elif entry.runtime is None and runtime == "onnx":
        raise ArtifactError(
            f"{path} is a {manifest.kind!r} model, which has no ONNX runtime; use runtime auto"
        )
    return model


def dump_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", "utf-8")

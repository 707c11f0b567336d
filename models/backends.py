"""The one backend registry: for each model ``kind``, how it is fitted and how it is loaded.

Entries name their code as ``"module:attribute"`` strings, imported on first use, so reading
this registry (the CLI, the learner's settings) never imports torch or scikit-learn.

- ``model``: the classifier class; ``load(path, manifest, device) -> Classifier``.
- ``trainer``: the fitting steps the pipeline runs (:class:`models.pipeline.Trainer`).
- ``runtime``: optional ``attach(model, path, manifest, runtime)`` that may swap a loaded model's
  forward pass for a faster one (see :mod:`models.onnx`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from models.exceptions import ArtifactError


@dataclass(frozen=True)
class Backend:
    kind: str
    model: str
    trainer: str
    runtime: str | None = None
    #: the pipeline holds out validation rows for it (early stopping, calibration, novelty)
    needs_validation: bool = True
    #: its evaluation is set beside a TF-IDF baseline fitted on the same rows (and saved)
    with_baseline: bool = True


BACKENDS: dict[str, Backend] = {
    "tfidf": Backend(
        kind="tfidf",
        model="models.tfidf:TfidfClassifier",
        trainer="models.tfidf:TfidfTrainer",
        needs_validation=False,
        with_baseline=False,
    ),
    "lora-transformer": Backend(
        kind="lora-transformer",
        model="models.transformer:TransformerClassifier",
        trainer="models.train:TransformerTrainer",
        runtime="models.onnx:attach",
    ),
    # a child-label model of another kind (under leaf/) read as parent + child heads; trained
    # by the pipeline around that kind (TrainRequest.hierarchy), so it has no trainer of its own
    "hierarchy": Backend(
        kind="hierarchy",
        model="models.hierarchy:HierarchicalClassifier",
        trainer="",
        runtime="models.hierarchy:attach",
    ),
}


def backend(kind: str, where: str = "") -> Backend:
    """The registry entry for ``kind``; ``where`` (a path, a setting) goes into the error."""
    found = BACKENDS.get(kind)
    if found is None:
        origin = f"{where} holds a model of kind" if where else "backend"
        raise ArtifactError(f"{origin} {kind!r}, which is unknown; known kinds: {sorted(BACKENDS)}")
    return found


def resolve(target: str) -> Any:
    """Import ``"module:attribute"``."""
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)

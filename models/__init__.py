"""Classifiers: training, calibration, evaluation and the one artifact loader.

Everything outside this package reaches a model only through :func:`load` and the
:class:`Classifier` protocol; ``__all__`` is what other packages may use. The names are imported
on first use (PEP 562), so ``import models`` costs nothing: the worker's and the CLI's start-up
never pay for torch, scikit-learn or pydantic they do not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.artifact import load, read_manifest
    from models.bands import ThresholdOverrides, Thresholds, resolve_thresholds
    from models.base import Classifier, Scores
    from models.data import LabelledData, read_labelled
    from models.exceptions import (
        ArtifactError,
        DataError,
        GateFailed,
        ModelError,
        ModelMissing,
        SevereImbalance,
    )
    from models.gates import EvalPack, GateReport, load_pack
    from models.health import HealthConfig
    from models.pipeline import TrainRequest, run
    from models.redact import redact_text
    from models.result import TrainResult
    from models.settings import ModelSettings
    from models.train_config import TrainConfig

#: name -> the module that defines it (never a name that is also a submodule's, such as
#: ``redact``: ``import models.redact`` would then change what ``models.redact`` is)
_HOMES = {
    "load": "artifact",
    "read_manifest": "artifact",
    "Thresholds": "bands",
    "ThresholdOverrides": "bands",
    "resolve_thresholds": "bands",
    "Classifier": "base",
    "Scores": "base",
    "LabelledData": "data",
    "read_labelled": "data",
    "ArtifactError": "exceptions",
    "DataError": "exceptions",
    "GateFailed": "exceptions",
    "ModelError": "exceptions",
    "ModelMissing": "exceptions",
    "SevereImbalance": "exceptions",
    "EvalPack": "gates",
    "GateReport": "gates",
    "load_pack": "gates",
    "HealthConfig": "health",
    "TrainRequest": "pipeline",
    "run": "pipeline",
    "redact_text": "redact",
    "TrainResult": "result",
    "ModelSettings": "settings",
    "TrainConfig": "train_config",
}

__all__ = [
    "ArtifactError",
    "Classifier",
    "DataError",
    "EvalPack",
    "GateFailed",
    "GateReport",
    "HealthConfig",
    "LabelledData",
    "ModelError",
    "ModelMissing",
    "ModelSettings",
    "Scores",
    "SevereImbalance",
    "ThresholdOverrides",
    "Thresholds",
    "TrainConfig",
    "TrainRequest",
    "TrainResult",
    "load",
    "load_pack",
    "read_labelled",
    "read_manifest",
    "redact_text",
    "resolve_thresholds",
    "run",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"models.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

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
    from models.backends import BACKENDS
    from models.bands import (
        ThresholdOverrides,
        Thresholds,
        ThresholdSet,
        head_answers,
        head_decisions,
        resolve_thresholds,
    )
    from models.base import Classifier, Scores
    from models.calibration import softmax
    from models.cli_options import (
        HeadOptions,
        described,
        head_options,
        held_out_fraction_option,
        json_out_option,
        label_col_option,
        limit_option,
        loglevel_option,
        options_from,
        seed_option,
        text_col_option,
    )
    from models.clusters import read_failure_clusters
    from models.data import HeadColumn, HeadLabels, LabelledData, iter_records, read_labelled
    from models.distill import DistillConfig, distill_dir
    from models.escalation import Escalation
    from models.evaluate import evaluate as evaluate_model
    from models.evaluate import label_metrics, macro_f1, set_metrics
    from models.exceptions import (
        ArtifactError,
        DataError,
        GateFailed,
        ModelError,
        ModelMissing,
        SevereImbalance,
    )
    from models.gates import (
        EvalPack,
        GateReport,
        check,
        compare,
        load_pack,
        regression_figures,
    )
    from models.health import HealthConfig
    from models.hierarchy import Hierarchy
    from models.labels import normalise_label
    from models.onnx import build as build_onnx
    from models.onnx import onnx_record
    from models.paired import paired_bootstrap
    from models.pipeline import TrainRequest, run
    from models.progress import progress_bar
    from models.redact import redact_text
    from models.result import TrainResult
    from models.runtime import available_cores
    from models.settings import ModelSettings, default_base_model
    from models.tfidf import TfidfClassifier
    from models.threshold_set import (
        FittedThresholds,
        candidate_thresholds,
        fit_route_thresholds,
        read_fitted,
        write_fitted,
    )
    from models.threshold_status import (
        ClassStatus,
        ThresholdPolicy,
        ThresholdStatus,
        fit_reviews,
        review_status,
    )
    from models.train_config import TrainConfig, split
    from models.transformer import configure_threads

#: name -> "module" (or "module:attribute" where the face renames it) inside this package;
#: never a name that is also a submodule's (importing the submodule would replace it)
_HOMES = {
    "load": "artifact",
    "read_manifest": "artifact",
    "BACKENDS": "backends",
    "ThresholdOverrides": "bands",
    "Thresholds": "bands",
    "ThresholdSet": "bands",
    "resolve_thresholds": "bands",
    "head_answers": "bands",
    "head_decisions": "bands",
    "Classifier": "base",
    "Scores": "base",
    "softmax": "calibration",
    "read_failure_clusters": "clusters",
    "HeadOptions": "cli_options",
    "described": "cli_options",
    "head_options": "cli_options",
    "held_out_fraction_option": "cli_options",
    "json_out_option": "cli_options",
    "label_col_option": "cli_options",
    "limit_option": "cli_options",
    "loglevel_option": "cli_options",
    "options_from": "cli_options",
    "seed_option": "cli_options",
    "text_col_option": "cli_options",
    "HeadColumn": "data",
    "HeadLabels": "data",
    "LabelledData": "data",
    "iter_records": "data",
    "read_labelled": "data",
    "DistillConfig": "distill",
    "distill_dir": "distill",
    "evaluate_model": "evaluate:evaluate",
    "label_metrics": "evaluate",
    "macro_f1": "evaluate",
    "set_metrics": "evaluate",
    "ArtifactError": "exceptions",
    "DataError": "exceptions",
    "Escalation": "escalation",
    "GateFailed": "exceptions",
    "ModelError": "exceptions",
    "ModelMissing": "exceptions",
    "SevereImbalance": "exceptions",
    "EvalPack": "gates",
    "GateReport": "gates",
    "check": "gates",
    "compare": "gates",
    "load_pack": "gates",
    "regression_figures": "gates",
    "HealthConfig": "health",
    "Hierarchy": "hierarchy",
    "normalise_label": "labels",
    "onnx_record": "onnx",
    "paired_bootstrap": "paired",
    "build_onnx": "onnx:build",
    "TrainRequest": "pipeline",
    "run": "pipeline",
    "progress_bar": "progress",
    "redact_text": "redact",
    "TrainResult": "result",
    "available_cores": "runtime",
    "ModelSettings": "settings",
    "default_base_model": "settings",
    "TfidfClassifier": "tfidf",
    "ClassStatus": "threshold_status",
    "FittedThresholds": "threshold_set",
    "ThresholdPolicy": "threshold_status",
    "ThresholdStatus": "threshold_status",
    "review_status": "threshold_status",
    "candidate_thresholds": "threshold_set",
    "fit_route_thresholds": "threshold_set",
    "read_fitted": "threshold_set",
    "fit_reviews": "threshold_status",
    "write_fitted": "threshold_set",
    "TrainConfig": "train_config",
    "split": "train_config",
    "configure_threads": "transformer",
}

__all__ = [
    "BACKENDS",
    "ArtifactError",
    "ClassStatus",
    "Classifier",
    "DataError",
    "DistillConfig",
    "Escalation",
    "EvalPack",
    "FittedThresholds",
    "GateFailed",
    "GateReport",
    "HeadColumn",
    "HeadLabels",
    "HeadOptions",
    "HealthConfig",
    "Hierarchy",
    "LabelledData",
    "ModelError",
    "ModelMissing",
    "ModelSettings",
    "Scores",
    "SevereImbalance",
    "TfidfClassifier",
    "ThresholdOverrides",
    "ThresholdPolicy",
    "ThresholdSet",
    "ThresholdStatus",
    "Thresholds",
    "TrainConfig",
    "TrainRequest",
    "TrainResult",
    "available_cores",
    "build_onnx",
    "candidate_thresholds",
    "check",
    "compare",
    "configure_threads",
    "default_base_model",
    "described",
    "distill_dir",
    "evaluate_model",
    "fit_reviews",
    "fit_route_thresholds",
    "head_answers",
    "head_decisions",
    "head_options",
    "held_out_fraction_option",
    "iter_records",
    "json_out_option",
    "label_col_option",
    "label_metrics",
    "limit_option",
    "load",
    "load_pack",
    "loglevel_option",
    "macro_f1",
    "normalise_label",
    "onnx_record",
    "options_from",
    "paired_bootstrap",
    "progress_bar",
    "read_failure_clusters",
    "read_fitted",
    "read_labelled",
    "read_manifest",
    "redact_text",
    "regression_figures",
    "resolve_thresholds",
    "review_status",
    "run",
    "seed_option",
    "set_metrics",
    "softmax",
    "split",
    "text_col_option",
    "write_fitted",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    module, _, attribute = home.partition(":")
    value = getattr(importlib.import_module(f"models.{module}"), attribute or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

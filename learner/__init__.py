"""The learning loop: recorder, retrain trigger, gates, deploy; what ``ops`` may use of it.

``__all__`` is the face other packages use; everything else is the package's own to change.
The names are imported on first use (PEP 562): every `triage` command imports its package's
CLI module to build ``triage --help``, which must not wait for faust.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from learner.deploy import Announcer, adopt
    from learner.gates import Margins, evaluate_sets
    from learner.retrain import Backend, Candidate, GoldSet, fit_candidate
    from learner.settings import LearnerSettings

#: name -> the module of this package that defines it
_HOMES = {
    "Announcer": "deploy",
    "Backend": "retrain",
    "Candidate": "retrain",
    "GoldSet": "retrain",
    "LearnerSettings": "settings",
    "Margins": "gates",
    "adopt": "deploy",
    "evaluate_sets": "gates",
    "fit_candidate": "retrain",
}

__all__ = [
    "Announcer",
    "Backend",
    "Candidate",
    "GoldSet",
    "LearnerSettings",
    "Margins",
    "adopt",
    "evaluate_sets",
    "fit_candidate",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'learner' has no attribute {name!r}")
    return getattr(importlib.import_module(f"learner.{_HOMES[name]}"), name)

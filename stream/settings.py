"""The worker's one settings class, read once by `triage worker` and passed down as typed values."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bus import FaustServiceSettings
from models import Escalation, ModelError

Device = Literal["auto", "cpu", "cuda"]


class WorkerSettings(FaustServiceSettings):
    """Everything the classify worker needs; env prefix ``TRIAGE_`` (e.g. ``TRIAGE_DEVICE=cpu``)."""

    route_threshold: float = Field(0.85, gt=0, le=1)
    """confidence to auto-route"""
    shadow_threshold: float = Field(0.60, gt=0, le=1)
    """confidence for shadow review"""
    shadow_mode: bool = False
    """nothing auto-routes until its class qualified in the fitted threshold set (enough reviews,
    precision bound >= target); routed-worthy tickets go to shadow
    """
    per_class_thresholds: bool = True
    """apply the per-class route thresholds fitted next to the served model"""
    escalate: str = ""
    """head=label entries, comma-separated ('label' is the primary head), that send a ticket to
    manual whatever its confidence, e.g. urgency=high,intent=compromised_card
    """
    device: Device = "auto"
    """cuda when present with auto"""
    runtime: Literal["auto", "torch", "onnx"] = "auto"
    """auto: the model's validated ONNX export on CPU when it has one"""
    max_body_bytes: int = Field(64 * 1024, gt=0)
    """UTF-8 size above which a ticket is dead-lettered"""
    max_message_bytes: int = Field(0, ge=0)
    """whole-message size checked before decoding (0: 4x TRIAGE_MAX_BODY_BYTES)"""
    dedup_ttl_seconds: int = Field(7 * 24 * 3600, gt=0)
    """a ticket_id seen again within this window is not re-run"""
    batch_max: int = Field(64, gt=0)
    """most tickets classified in one model call"""
    batch_window_s: float = Field(0.05, gt=0)
    """longest wait to fill a batch; bounds added latency"""
    group_id: str = Field("triage-worker", min_length=1)
    """consumer group (and faust app id)"""
    model_poll_s: float = Field(2.0, gt=0)
    """how often the redis model pointer is checked for a deploy"""
    drift_window: int = Field(1000, ge=10)
    """fresh decisions in the sliding window compared with the model's validation reference (judged
    once full)
    """
    drift_psi_limit: float = Field(0.2, gt=0)
    """population stability index past which the window counts as drifted and the route thresholds
    as stale (0.2: the usual 'significant shift')
    """

    @field_validator("escalate")
    @classmethod
    def _escalation_parses(cls, value: str) -> str:
        try:
            Escalation.parse(value)
        except ModelError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _shadow_mode_needs_fitted(self) -> WorkerSettings:
        if self.shadow_mode and not self.per_class_thresholds:
            raise ValueError(
                "TRIAGE_SHADOW_MODE=true needs TRIAGE_PER_CLASS_THRESHOLDS=true: a class "
                "switches on by qualifying in the fitted set; set one of them differently"
            )
        return self

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> WorkerSettings:
        """Only when both are set: one alone is checked against the model's manifest value
        (:func:`models.bands.resolve_thresholds`), which the settings cannot see."""
        both = {"route_threshold", "shadow_threshold"} <= self.model_fields_set
        if both and not self.shadow_threshold <= self.route_threshold:
            raise ValueError(
                f"TRIAGE_SHADOW_THRESHOLD={self.shadow_threshold} is above "
                f"TRIAGE_ROUTE_THRESHOLD={self.route_threshold}; shadow must be <= route"
            )
        return self

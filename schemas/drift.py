"""A worker's drift summary: what it publishes to redis so the web and the CLI can show it.

A worker's drift window lives in its memory (:mod:`stream.drift`) and Prometheus scrapes it;
the dashboard and `triage report bands` cannot read that memory, so each worker also writes
this summary to redis (:class:`bus.DriftBoard`) every few seconds, with a TTL so a worker that
stopped drops out. The shape is a contract between services, hence here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import utcnow

DriftState = Literal["unknown", "filling", "stable", "drifted"]
DRIFT_STATES: tuple[DriftState, ...] = ("unknown", "filling", "stable", "drifted")


class DriftSummary(BaseModel):
    """One worker's drift window for the model version it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    worker: str = Field(min_length=1, description="host and process id of the worker")
    model_version: str
    state: DriftState = Field(description="unknown: the model has no drift reference")
    decisions: int = Field(ge=0, description="fresh decisions in the window (judged once full)")
    window: int = Field(ge=1, description="TRIAGE_DRIFT_WINDOW of the worker")
    limit: float = Field(gt=0, description="TRIAGE_DRIFT_PSI_LIMIT of the worker")
    psi: dict[str, float] = Field(
        default_factory=dict, description="index per signal (label, novelty, confidence)"
    )
    published_at: datetime = Field(default_factory=utcnow)

    @property
    def stale(self) -> bool:
        """The route thresholds in force were fitted on traffic unlike this window's."""
        return self.state == "drifted"

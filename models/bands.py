"""The band rule: how calibrated confidence becomes routed / shadow / manual.

It lives here, not in the stream, because `triage predict` and `triage evaluate` must band
exactly like the worker does. :func:`resolve_thresholds` is the one place the thresholds in force
are decided: the model's manifest gives them (they were chosen for that model), and an operator's
``TRIAGE_ROUTE_THRESHOLD`` / ``TRIAGE_SHADOW_THRESHOLD`` overrides them. Every path that bands
(worker, predict, evaluate, the learner's gates, training) calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from models.exceptions import ModelError
from schemas import Band

#: settings field -> Thresholds field
_SETTING_FIELDS = {"route_threshold": "route", "shadow_threshold": "shadow"}


@dataclass(frozen=True)
class Thresholds:
    route: float = 0.85
    shadow: float = 0.60

    def __post_init__(self) -> None:
        if not 0.0 < self.shadow <= self.route <= 1.0:
            raise ModelError(
                f"thresholds route={self.route} shadow={self.shadow} are invalid: "
                "need 0 < shadow <= route <= 1 (defaults 0.85 and 0.60; set "
                "TRIAGE_ROUTE_THRESHOLD / TRIAGE_SHADOW_THRESHOLD)"
            )

    def band(self, confidence: float, *, novel: bool = False) -> Band:
        """A novel ticket goes to a person whatever the softmax says: it is unlike training."""
        if novel:
            return "manual"
        if confidence >= self.route:
            return "routed"
        if confidence >= self.shadow:
            return "shadow"
        return "manual"


def model_thresholds(model: Any) -> Thresholds:
    """The thresholds a model carries: its manifest's when it has been saved or loaded, else the
    ones training gave it, else the defaults (a model with neither, e.g. a bare TF-IDF fit)."""
    manifest = getattr(model, "manifest", None)
    recorded = getattr(manifest, "thresholds", None)
    if isinstance(recorded, dict) and recorded:
        return Thresholds(**recorded)
    own = getattr(model, "thresholds", None)
    return own if isinstance(own, Thresholds) else Thresholds()


@dataclass(frozen=True)
class ThresholdOverrides:
    """What an operator set (None: not set, the manifest decides). Read once from settings at
    the entry point; applied to whichever model is serving, so a deploy's manifest takes effect
    for the thresholds the operator left alone."""

    route: float | None = None
    shadow: float | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> ThresholdOverrides:
        """Only fields the operator set (environment, .env or constructor), not the defaults:
        pydantic's ``model_fields_set`` tells the two apart."""
        if settings is None:
            return cls()
        chosen: set[str] = getattr(settings, "model_fields_set", set())
        values = {
            name: float(getattr(settings, field))
            for field, name in _SETTING_FIELDS.items()
            if field in chosen
        }
        return cls(**values)

    def for_model(self, model: Any) -> Thresholds:
        """Manifest defaults of ``model`` (None: a model about to be trained), overridden."""
        base = model_thresholds(model) if model is not None else Thresholds()
        pairs = (("route", self.route), ("shadow", self.shadow))
        overrides = {name: value for name, value in pairs if value is not None}
        if not overrides:
            return base
        try:
            return replace(base, **overrides)
        except ModelError as exc:
            raise ModelError(
                f"{exc} (the model's manifest gives route={base.route} shadow={base.shadow}; "
                f"the settings override {overrides})"
            ) from exc


def resolve_thresholds(model: Any, settings: Any = None) -> Thresholds:
    """The thresholds in force for ``model``: manifest defaults, overridden by ``settings``
    wherever the operator set them. The one rule; every path that bands calls it."""
    return ThresholdOverrides.from_settings(settings).for_model(model)

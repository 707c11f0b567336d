"""The band rule: how calibrated confidence becomes routed / shadow / manual.

It lives here, not in the stream, because `triage predict` and `triage evaluate` must band
exactly like the worker does. :func:`resolve_thresholds` is the one place the thresholds in force
are decided: the model's manifest gives them (they were chosen for that model), and an operator's
``TRIAGE_ROUTE_THRESHOLD`` / ``TRIAGE_SHADOW_THRESHOLD`` overrides them. Every path that bands
(worker, predict, evaluate, the learner's gates, training) calls it.

The worker adds what reviewed traffic taught (:mod:`models.threshold_set`): a fitted class
routes at its own threshold, a class without enough reviews at the global one, a class that
met the target at no threshold not at all. Under **shadow mode** (``TRIAGE_SHADOW_MODE``) only
fitted classes route; every other routed-worthy ticket goes to shadow, marked would-route, so
people confirm it until its class qualifies. :meth:`ThresholdOverrides.resolve` builds that
:class:`ThresholdSet`; :func:`band_of` is the one comparison every path makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from models.escalation import Escalation
from models.exceptions import ModelError
from schemas import Band, HeadDecision, LabelScore

if TYPE_CHECKING:
    from models.base import HeadScores, Scores
    from models.threshold_set import FittedThresholds

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
        return band_of(confidence, route=self.route, shadow=self.shadow, novel=novel)


def band_of(confidence: float, *, route: float | None, shadow: float, novel: bool) -> Band:
    """The comparison itself. A novel ticket goes to a person whatever the softmax says: it is
    unlike training. ``route`` None: this ticket's class may not auto-route."""
    if novel:
        return "manual"
    if route is not None and confidence >= route:
        return "routed"
    if confidence >= shadow:
        return "shadow"
    return "manual"


@dataclass(frozen=True)
class ThresholdSet:
    """The thresholds in force for one batch: the global default, per-class route thresholds
    (None: held back), the fitted set's version and whether shadow mode holds back the rest."""

    default: Thresholds = field(default_factory=Thresholds)
    per_class: Mapping[str, float | None] = field(default_factory=dict)
    version: str | None = None
    shadow_mode: bool = False

    @property
    def id(self) -> str:
        """What a decision records: the fitted set's version (``global`` without one), and
        ``+shadow`` under shadow mode; the default's values are the model's and the settings'."""
        return f"{self.version or 'global'}{'+shadow' if self.shadow_mode else ''}"

    def qualified(self) -> frozenset[str]:
        return frozenset(label for label, t in self.per_class.items() if t is not None)

    def route_for(self, label: str) -> float | None:
        """``label``'s route threshold, never below the shadow one; None: it does not route."""
        if label in self.per_class:
            own = self.per_class[label]
            return None if own is None else max(own, self.default.shadow)
        return None if self.shadow_mode else self.default.route

    def band(self, label: str, confidence: float, *, novel: bool = False) -> Band:
        route = self.route_for(label)
        return band_of(confidence, route=route, shadow=self.default.shadow, novel=novel)

    def would_route(self, label: str, confidence: float, *, novel: bool = False) -> bool:
        """Routed-worthy: past the class's own threshold, or the default one when it has
        none, whether or not it is held back (shadow mode counts these)."""
        own = self.per_class.get(label)
        route = self.default.route if own is None else max(own, self.default.shadow)
        return band_of(confidence, route=route, shadow=self.default.shadow, novel=novel) == (
            "routed"
        )


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
    #: TRIAGE_SHADOW_MODE: only classes a fitted set qualified auto-route
    shadow_mode: bool = False
    #: TRIAGE_PER_CLASS_THRESHOLDS: apply a fitted set (False: the global rule only)
    per_class: bool = True
    #: TRIAGE_ESCALATE: head answers that send a ticket to manual whatever its confidence
    escalation: Escalation = field(default_factory=Escalation)

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
        return cls(
            **values,
            shadow_mode=bool(getattr(settings, "shadow_mode", False)),
            per_class=bool(getattr(settings, "per_class_thresholds", True)),
            escalation=Escalation.parse(str(getattr(settings, "escalate", "") or "")),
        )

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

    def resolve(self, model: Any, fitted: FittedThresholds | None = None) -> ThresholdSet:
        """The worker's set for ``model``: its defaults (:meth:`for_model`) plus ``fitted``,
        the set next to it, unless per-class thresholds are off. Shadow mode always uses
        ``fitted`` (the settings refuse shadow mode without per-class thresholds)."""
        default = self.for_model(model)
        if fitted is None or not (self.per_class or self.shadow_mode):
            return ThresholdSet(default, shadow_mode=self.shadow_mode)
        return ThresholdSet(default, fitted.routes(), fitted.version, self.shadow_mode)


def resolve_thresholds(model: Any, settings: Any = None) -> Thresholds:
    """The thresholds in force for ``model``: manifest defaults, overridden by ``settings``
    wherever the operator set them. The one rule; every path that bands calls it."""
    return ThresholdOverrides.from_settings(settings).for_model(model)


def head_decisions(
    scores: Scores, row: int, default: Thresholds, *, novel: bool, top_k: int
) -> dict[str, HeadDecision]:
    """Row ``row``'s answer from every head beyond the primary one, banded by the global rule.

    The worker, `triage predict` and the try page all call it, so a head reads the same in a
    band topic, on a terminal and in a browser."""
    out: dict[str, HeadDecision] = {}
    for name, head in scores.heads.items():
        order = np.argsort(-head.proba[row])[:top_k]
        top = [
            LabelScore(label=head.labels[j], probability=float(head.proba[row, j])) for j in order
        ]
        chosen = head.chosen(row) if head.multilabel else None
        confidence = _weakest_call(head, row) if head.multilabel else top[0].probability
        out[name] = HeadDecision(
            label=(chosen[0] if chosen else "") if chosen is not None else top[0].label,
            confidence=confidence,
            band=default.band(confidence, novel=novel),
            parent_head=head.parent,
            top_k=top,
            labels=chosen,
        )
    return out


def head_answers(heads: Mapping[str, HeadDecision]) -> dict[str, str | list[str]]:
    """What each head answered, as the escalation rule reads it: a label, or a multi-label
    head's set."""
    return {name: h.labels if h.labels is not None else h.label for name, h in heads.items()}


def _weakest_call(head: HeadScores, row: int) -> float:
    """A multi-label head's confidence: its least certain yes-or-no over all its labels."""
    p, cut = head.proba[row], head.thresholds
    return float(np.where(p >= cut, p, 1.0 - p).min())

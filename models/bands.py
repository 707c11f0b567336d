"""The band rule: how calibrated confidence becomes routed / shadow / manual.

It lives here, not in the stream, because `triage predict` and `triage evaluate` must band
exactly like the worker does.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.exceptions import ModelError
from schemas.events import Band


@dataclass(frozen=True)
class Thresholds:
    route: float = 0.85
    shadow: float = 0.60

    def __post_init__(self) -> None:
        if not 0.0 < self.shadow <= self.route <= 1.0:
            raise ModelError(
                f"thresholds route={self.route} shadow={self.shadow} are invalid: "
                "need 0 < shadow <= route <= 1 (defaults 0.85 and 0.60)"
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

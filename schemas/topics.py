"""Topic names: the public contract between integrations, workers, the learner and the web.

A deployment may prepend a prefix (``TRIAGE_TOPIC_PREFIX``) so several environments can share a
cluster; the suffixes below never change.
"""

from __future__ import annotations

from dataclasses import dataclass

INCOMING = "tickets.incoming"
ROUTED = "tickets.routed"
SHADOW = "tickets.shadow"
MANUAL = "tickets.manual"
DEAD_LETTER = "tickets.dead-letter"
CORRECTIONS = "tickets.corrections"
DEPLOYED = "models.deployed"


@dataclass(frozen=True)
class Topics:
    """Fully qualified topic names for one deployment."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def incoming(self) -> str:
        return self._name(INCOMING)

    @property
    def routed(self) -> str:
        return self._name(ROUTED)

    @property
    def shadow(self) -> str:
        return self._name(SHADOW)

    @property
    def manual(self) -> str:
        return self._name(MANUAL)

    @property
    def dead_letter(self) -> str:
        return self._name(DEAD_LETTER)

    @property
    def corrections(self) -> str:
        return self._name(CORRECTIONS)

    @property
    def deployed(self) -> str:
        return self._name(DEPLOYED)

    def band(self, band: str) -> str:
        """The topic a decision in ``band`` is published to."""
        return {"routed": self.routed, "shadow": self.shadow, "manual": self.manual}[band]

    @property
    def bands(self) -> tuple[str, str, str]:
        return (self.routed, self.shadow, self.manual)

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic the system reads or writes (what `triage init` creates)."""
        return (self.incoming, *self.bands, self.dead_letter, self.corrections, self.deployed)

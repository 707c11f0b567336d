"""The escalation rule: heads whose answer sends a ticket to a person whatever the confidence.

A confident team is not enough when the ticket is urgent, angry or about a compromised card:
``TRIAGE_ESCALATE="intent=compromised_card,urgency=high"`` puts a ticket in the manual band when
any named head answers the named label. ``label`` names the primary head. It is part of the band
rule (:class:`models.bands.ThresholdOverrides` carries it), so the worker and `triage predict`
escalate the same tickets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.artifact import PRIMARY_HEAD
from models.exceptions import ModelError
from models.labels import normalise_label

#: the primary head's name in a rule (the decision's own label)
PRIMARY = PRIMARY_HEAD


@dataclass(frozen=True)
class Escalation:
    """(head, label) pairs, labels in the normal form training gives them."""

    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Escalation:
        """Comma-separated ``head=label`` entries; empty text: no escalation."""
        rules: list[tuple[str, str]] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            head, sep, label = (x.strip() for x in entry.partition("="))
            if not sep or not head or not label:
                raise ModelError(
                    f"TRIAGE_ESCALATE entry {entry!r} is not head=label: write e.g. "
                    "'urgency=high,intent=compromised_card' ('label' is the primary head)"
                )
            rules.append((head, normalise_label(label, {})))
        return cls(tuple(rules))

    @property
    def heads(self) -> set[str]:
        return {head for head, _ in self.rules}

    def fired(self, primary: str, heads: Mapping[str, str | Sequence[str]]) -> str | None:
        """The first rule the answers match, as ``head=label``; None when none does. A
        multi-label head's answer is its label set: a rule fires when the set holds its label."""
        answers: dict[str, str | Sequence[str]] = {PRIMARY: primary, **heads}
        for head, label in self.rules:
            given = answers.get(head)
            said = [given] if isinstance(given, str) else list(given or ())
            if any(normalise_label(x, {}) == label for x in said):
                return f"{head}={label}"
        return None

    def missing_heads(self, model_heads: set[str]) -> list[str]:
        """Heads a rule names that the model does not have (the rule can never fire on them)."""
        return sorted(self.heads - model_heads - {PRIMARY})

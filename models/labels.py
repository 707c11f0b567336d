"""Label normalising: "Billing ", "billing" and a configured synonym "invoices" are one class,
at training and whenever a labelled file is scored against a model."""

from __future__ import annotations


def normalise_label(label: str, synonyms: dict[str, str]) -> str:
    """Lower-case, single-spaced label, then mapped through ``synonyms`` (keys compared in the
    same normal form), so "Billing ", "billing" and a configured "invoices" become one class."""
    key = " ".join(str(label).split()).lower()
    mapped = _normal_synonyms(synonyms).get(key)
    return mapped if mapped is not None else key


def _normal_synonyms(synonyms: dict[str, str]) -> dict[str, str]:
    return {" ".join(k.split()).lower(): " ".join(v.split()).lower() for k, v in synonyms.items()}

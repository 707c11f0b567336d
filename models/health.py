"""Data health: clean, deduplicate and measure a labelled export before anything trains on it.

Exports of real ticket queues are messy in ways that quietly hurt a classifier: the same ticket
pasted twice (inflating test scores when copies straddle the split), copies filed under two
teams (teaching the model to be unsure), e-mail reply chains and signatures (noise longer than
the request), personal data (which must not end up in a model or a review screen) and a class
balance so skewed that macro-F1 cannot be reached. :func:`prepare` fixes what can be fixed,
counts everything it removed so no row disappears silently, and reads the label distribution as
a verdict the trainer acts on.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from models.clean import clean
from models.data import HeadLabels, LabelledData
from models.exceptions import DataError
from models.health_report import ConflictPolicy, HealthReport
from models.imbalance import balance_fields, refuse_if_severe, severe_message
from models.labels import normalise_label
from models.near_duplicates import near_duplicates
from models.redact import KINDS, redact

#: the stage's face; the label and verdict helpers are re-exported for the CLI and benchmarks
__all__ = [
    "HealthConfig",
    "HealthReport",
    "normalise_label",
    "prepare",
    "refuse_if_severe",
    "severe_message",
]

_TOKEN = re.compile(r"\w+")


@dataclass
class HealthConfig:
    """What the owner of the data decides: label vocabulary and how strict to be."""

    synonyms: dict[str, str] = field(default_factory=dict)
    allowed_labels: list[str] | None = None
    min_class_count: int = 10
    near_duplicate_threshold: float = 0.9
    redact: bool = True
    #: identical texts filed under different labels: keep one row with the majority label
    #: (a tie is dropped), or drop every copy.
    conflict_policy: ConflictPolicy = "majority"

    def __post_init__(self) -> None:
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise DataError(
                f"near_duplicate_threshold {self.near_duplicate_threshold} is outside (0, 1];"
                " use e.g. 0.9"
            )
        if self.min_class_count < 0:
            raise DataError(f"min_class_count {self.min_class_count} is negative; use e.g. 10")
        if self.conflict_policy not in ("majority", "drop"):
            raise DataError(
                f"conflict_policy {self.conflict_policy!r} is unknown; use 'majority' or 'drop'"
            )

    @classmethod
    def from_json(cls, path: Path) -> HealthConfig:
        """Read a config file such as ``{"synonyms": {"invoices": "billing"},
        "allowed_labels": ["billing", "cards"], "min_class_count": 20}``."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise DataError(f"config file {path} does not exist; check the --config path") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"config file {path} is not valid UTF-8 JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise DataError(f"config file {path} must hold a JSON object, not {type(raw).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DataError(
                f"config file {path} has unknown keys {unknown}; allowed: {sorted(known)}"
            )
        synonyms = raw.get("synonyms", {})
        if not isinstance(synonyms, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in synonyms.items()
        ):
            raise DataError(f'{path}: "synonyms" must map label strings to label strings')
        allowed = raw.get("allowed_labels")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(x, str) for x in allowed)
        ):
            raise DataError(f'{path}: "allowed_labels" must be a list of label strings')
        expected: dict[str, tuple[type, ...]] = {
            "min_class_count": (int,),
            "near_duplicate_threshold": (int, float),
            "redact": (bool,),
            "conflict_policy": (str,),
        }
        for key, kinds in expected.items():
            value = raw.get(key)
            wrong_bool = isinstance(value, bool) and bool not in kinds  # True is an int too
            if value is not None and (wrong_bool or not isinstance(value, kinds)):
                names = " or ".join(kind.__name__ for kind in kinds)
                raise DataError(f"{path}: {key!r} = {value!r} should be {names}")
        return cls(**raw)


def prepare(data: LabelledData, config: HealthConfig) -> tuple[LabelledData, HealthReport]:
    """Normalise labels, clean and redact texts, remove duplicates; report what changed."""
    labels = [normalise_label(label, config.synonyms) for label in data.labels]
    renames = {raw: new for raw, new in zip(data.labels, labels, strict=True) if raw != new}
    _check_allowed(labels, config, data.source)

    rows = _clean_rows(data.texts, labels, config.redact)
    texts, kept_labels = rows.texts, rows.labels
    tokens = [_TOKEN.findall(text.lower()) for text in texts]
    keep, exact, conflicts, conflict_rows = _exact_duplicates(tokens, kept_labels, config)
    survivors = [i for i in range(len(texts)) if keep[i]]
    removed, near_conflicts = near_duplicates(
        [tokens[i] for i in survivors],
        [kept_labels[i] for i in survivors],
        config.near_duplicate_threshold,
    )
    final = [index for n, index in enumerate(survivors) if n not in removed]
    out = data.take([rows.rows[i] for i in final], [texts[i] for i in final])
    out = replace(out, labels=[kept_labels[i] for i in final], heads=_normalised(out.heads))
    counts = Counter(out.labels)
    if len(counts) < 2:
        raise DataError(
            f"{data.source}: after cleaning and de-duplication only {len(out)} rows in"
            f" {len(counts)} class(es) remain; a classifier needs at least 2 classes"
        )
    report = HealthReport(
        rows_in=len(data),
        rows_out=len(out),
        source=data.source,
        label_renames=renames,
        **rows.report_fields(),
        exact_duplicates=exact,
        conflicting_duplicates=conflicts,
        conflict_policy=config.conflict_policy,
        conflict_rows_dropped=conflict_rows,
        near_duplicates=len(removed),
        near_duplicate_conflicts=near_conflicts,
        **balance_fields(out.labels, config.min_class_count),
    )
    return out, report


@dataclass
class _Cleaned:
    """The rows left after cleaning (and redaction), with what was stripped or dropped."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    #: where each kept row was in the input (extra heads' labels follow their rows by it)
    rows: list[int] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    quoted: int = 0
    signed: int = 0
    empty: int = 0

    def report_fields(self) -> dict[str, Any]:
        """What cleaning stripped and dropped, under the report's names."""
        return {
            "quoted_replies_stripped": self.quoted,
            "signatures_stripped": self.signed,
            "redactions": self.redactions,
            "empty_dropped": self.empty,
        }


def _normalised(heads: Mapping[str, HeadLabels]) -> dict[str, HeadLabels]:
    """Extra heads' labels normalised as the primary's are (synonyms are the primary's)."""
    return {
        name: HeadLabels(
            head.multilabel,
            [
                tuple(normalise_label(x, {}) for x in v) if v is not None else None
                for v in head.values
            ],
        )
        for name, head in heads.items()
    }


def _clean_rows(texts: list[str], labels: list[str], redact_pii: bool) -> _Cleaned:
    """Quoted replies and signatures stripped, PII redacted; rows left empty are dropped."""
    out = _Cleaned()
    for row, (raw, label) in enumerate(zip(texts, labels, strict=True)):
        cleaned = clean(raw)
        out.quoted += cleaned.quoted_reply
        out.signed += cleaned.signature
        text = cleaned.text
        if redact_pii and text:
            redaction = redact(text)
            text = redaction.text
            for kind, n in redaction.counts.items():
                out.redactions[kind] += n
        if not text:
            out.empty += 1
            continue
        out.texts.append(text)
        out.labels.append(label)
        out.rows.append(row)
    return out


def _check_allowed(labels: list[str], config: HealthConfig, source: str) -> None:
    if config.allowed_labels is None:
        return
    allowed = {normalise_label(label, config.synonyms) for label in config.allowed_labels}
    unknown = Counter(label for label in labels if label not in allowed)
    if unknown:
        listed = ", ".join(f"{label!r} ({n} rows)" for label, n in unknown.most_common())
        raise DataError(
            f"{source}: labels not in allowed_labels: {listed}; map them to an allowed label"
            " under 'synonyms' in the config file, or add them to 'allowed_labels'"
        )


def _exact_duplicates(
    tokens: list[list[str]], labels: list[str], config: HealthConfig
) -> tuple[list[bool], int, int, int]:
    """Texts equal up to case, punctuation and spacing. Returns (keep mask, copies removed,
    conflicting texts, rows removed because of conflicts)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, words in enumerate(tokens):
        groups[" ".join(words)].append(index)
    keep = [True] * len(tokens)
    copies = conflicts = conflict_rows = 0
    for members in groups.values():
        if len(members) == 1:
            continue
        votes = Counter(labels[i] for i in members)
        for index in members[1:]:
            keep[index] = False
        if len(votes) == 1:
            copies += len(members) - 1
            continue
        conflicts += 1
        (top, top_n), (_, second_n) = votes.most_common(2)
        if config.conflict_policy == "majority" and top_n > second_n:
            winner = next(i for i in members if labels[i] == top)
            keep[members[0]] = False
            keep[winner] = True
            conflict_rows += len(members) - 1
        else:
            keep[members[0]] = False
            conflict_rows += len(members)
    return keep, copies, conflicts, conflict_rows

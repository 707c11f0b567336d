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

import itertools
import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from models.data import LabelledData
from models.exceptions import DataError
from models.redact import KINDS, redact

Verdict = Literal["healthy", "modest", "meaningful", "severe"]
ConflictPolicy = Literal["majority", "drop"]

#: Lower bounds of the normalised entropy for each verdict, best first.
VERDICT_FLOORS: tuple[tuple[float, Verdict], ...] = (
    (0.85, "healthy"),
    (0.70, "modest"),
    (0.50, "meaningful"),
)

# -- text clean-up -------------------------------------------------------------------------

_MOJIBAKE = re.compile(
    "[ÃÂâ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u0192\u02c6\u02dc\u2013-\u2122]"
)
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2060\ufeff]"
)
# After NFKC every exotic space is U+0020; only runs and tabs are left to fold.
_INLINE_SPACE = re.compile(r"[ \t]{2,}|\t")
_NEWLINE_MARKS = ("\r", "\u2028", "\u2029", "\x85")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTE_HEADERS = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|forwarded message)[ \t]*-{2,}[ \t]*$"
    r"|^[ \t]*On\b[^\n]{0,300}(?:\n[^\n]{0,300})?\bwrote:[ \t]*$"
    r"|^[ \t]*From:[^\n]+\n[ \t]*(?:Sent|Date):",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|$)", re.MULTILINE)
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$", re.MULTILINE)
_SENT_FROM = re.compile(
    r"^[ \t]*(?:sent from my [^\n]{1,40}|sent from (?:mail|outlook|yahoo mail)[^\n]{0,40}"
    r"|get outlook for [^\n]{1,30})[ \t]*$\n?",
    re.IGNORECASE | re.MULTILINE,
)
_CLOSING = re.compile(
    r"^[ \t]*(?:(?:best|kind|warm|warmest|many)[ \t]+(?:regards|wishes|thanks)|regards|best"
    r"|thanks(?: again| so much| in advance)?|thank you(?: in advance| again)?|cheers|sincerely"
    r"|yours (?:truly|sincerely|faithfully)|respectfully)[ \t]*[,.!]*[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNOFF_MAX_LINES = 4
_SIGNOFF_MAX_CHARS = 60
_RULE_LINE = re.compile(r"[ \t]*[-_=*]{3,}[ \t]*")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class _Cleaned:
    text: str
    quoted_reply: bool
    signature: bool


def clean_text(text: str) -> str:
    """Clean-up shared by training and inference, so the model never sees a form it wasn't
    trained on: repaired encoding, NFKC, no control characters, no quoted replies or signatures,
    tidy whitespace."""
    return _clean(text).text


def _clean(text: str) -> _Cleaned:
    text = _repair_mojibake(text)
    text = unicodedata.normalize("NFKC", text)
    if any(mark in text for mark in _NEWLINE_MARKS):
        text = _NEWLINES.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text, quoted = _strip_quoted_reply(text)
    text, signed = _strip_signature(text)
    text = _INLINE_SPACE.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return _Cleaned(text=text.strip(), quoted_reply=quoted, signature=signed)


def _repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as Windows-1252 ("donâ€™t" -> "don’t"), only when the
    round trip is lossless, so genuine accented text is never touched."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _strip_quoted_reply(text: str) -> tuple[str, bool]:
    stripped = False
    header = _QUOTE_HEADERS.search(text) if ":" in text or "--" in text else None
    if header:
        text, stripped = text[: header.start()], True
    without_quotes = _QUOTED_LINE.sub("", text) if ">" in text else text
    return without_quotes, stripped or without_quotes != text


def _strip_trailing_rules(text: str) -> str:
    """Drop "_____" or "-----" lines left at the end once a reply or signature is cut."""
    while True:
        head, _, last = text.rpartition("\n")
        if not head or not _RULE_LINE.fullmatch(last):
            return text
        text = head.rstrip()


def _strip_signature(text: str) -> tuple[str, bool]:
    if "\n" not in text:  # every signature form sits on lines of its own
        return text, False
    stripped = False
    delimiter = _SIGNATURE_DELIMITER.search(text)
    if delimiter:
        text, stripped = text[: delimiter.start()], True
    without_sent_from = _SENT_FROM.sub("", text)
    stripped = stripped or without_sent_from != text
    text = _strip_trailing_rules(without_sent_from.rstrip())
    # "Best regards,\nName\nTitle" at the end: the closing line, then only a few short lines.
    closings = list(_CLOSING.finditer(text))
    if closings:
        last = closings[-1]
        tail = text[last.end() :].strip("\n").split("\n") if text[last.end() :].strip() else []
        short_tail = len(tail) <= _SIGNOFF_MAX_LINES and all(
            len(line.strip()) <= _SIGNOFF_MAX_CHARS for line in tail
        )
        if short_tail and text[: last.start()].strip():
            text, stripped = text[: last.start()], True
    return text, stripped


# -- labels ----------------------------------------------------------------------------------


def normalise_label(label: str, synonyms: dict[str, str]) -> str:
    """Lower-case, single-spaced label, then mapped through ``synonyms`` (keys compared in the
    same normal form), so "Billing ", "billing" and a configured "invoices" become one class."""
    key = " ".join(str(label).split()).lower()
    mapped = _normal_synonyms(synonyms).get(key)
    return mapped if mapped is not None else key


def _normal_synonyms(synonyms: dict[str, str]) -> dict[str, str]:
    return {" ".join(k.split()).lower(): " ".join(v.split()).lower() for k, v in synonyms.items()}


# -- configuration and report ---------------------------------------------------------------


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


@dataclass
class HealthReport:
    """Everything :func:`prepare` changed and measured; rows_in equals rows_out plus every
    removal counter, so nothing is lost without a number."""

    rows_in: int
    rows_out: int
    exact_duplicates: int
    near_duplicates: int
    conflicting_duplicates: int
    quoted_replies_stripped: int
    signatures_stripped: int
    redactions: dict[str, int]
    class_counts: dict[str, int]
    entropy_nats: float
    entropy_normalised: float
    verdict: Verdict
    small_classes: list[str]
    label_renames: dict[str, str]
    source: str = ""
    empty_dropped: int = 0
    conflict_policy: ConflictPolicy = "majority"
    conflict_rows_dropped: int = 0
    #: near-identical texts with different labels; both kept, listed so a human can look.
    near_duplicate_conflicts: int = 0
    min_class_count: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        redacted = ", ".join(f"{kind} {n:,}" for kind, n in self.redactions.items())
        if self.conflict_policy == "majority":
            policy = "kept one row with the majority label, ties dropped"
        else:
            policy = "dropped every copy"
        lines = [
            f"Data health of {self.source or 'the data'}: {self.rows_in:,} rows in,"
            f" {self.rows_out:,} rows out",
            f"  exact duplicates removed     {self.exact_duplicates:>7,}",
            f"  near-duplicates removed      {self.near_duplicates:>7,}",
            f"  conflicting duplicates       {self.conflicting_duplicates:>7,} texts"
            f" ({policy}: {self.conflict_rows_dropped:,} rows removed)",
            f"  near-duplicates, 2 labels    {self.near_duplicate_conflicts:>7,} pairs (kept)",
            f"  empty after cleaning         {self.empty_dropped:>7,} rows removed",
            f"  quoted replies stripped      {self.quoted_replies_stripped:>7,}",
            f"  signatures stripped          {self.signatures_stripped:>7,}",
            f"  PII redacted                 {redacted}",
        ]
        if self.label_renames:
            lines.append(f"  labels renamed               {len(self.label_renames):>7,}")
            lines += [f"    {a!r} -> {b!r}" for a, b in sorted(self.label_renames.items())]
        width = max(len(label) for label in self.class_counts) if self.class_counts else 5
        width = min(max(width, 5), 60)
        lines.append("")
        lines.append(f"  {'class':<{width}}  {'rows':>7}  share")
        total = sum(self.class_counts.values()) or 1
        for label, count in sorted(self.class_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            flag = "  < min" if label in self.small_classes else ""
            shown = label if len(label) <= width else label[: width - 1] + "…"
            lines.append(f"  {shown:<{width}}  {count:>7,}  {count / total:6.1%}{flag}")
        k = len(self.class_counts)
        lines += [
            "",
            f"Entropy {self.entropy_nats:.3f} nats over {k} classes; normalised by ln({k}):"
            f" {self.entropy_normalised:.3f} -> {self.verdict}",
        ]
        if self.small_classes:
            lines.append(
                f"Classes under {self.min_class_count} rows: {', '.join(self.small_classes)}"
            )
        return "\n".join(lines)


def imbalance_verdict(entropy_normalised: float) -> Verdict:
    """>= 0.85 healthy, 0.70-0.85 modest, 0.50-0.70 meaningful, below 0.50 severe."""
    for floor, verdict in VERDICT_FLOORS:
        if entropy_normalised >= floor:
            return verdict
    return "severe"


def shannon_entropy(counts: Sequence[int]) -> tuple[float, float]:
    """(entropy in nats, entropy / ln k); a single class has normalised entropy 0."""
    total = sum(counts)
    present = [c for c in counts if c > 0]
    if total == 0 or len(present) < 2:
        return 0.0, 0.0
    nats = -sum(c / total * math.log(c / total) for c in present)
    return nats, nats / math.log(len(present))


def refuse_if_severe(report: HealthReport, *, force: bool = False) -> None:
    """Training on a severely imbalanced export yields a model that ignores its rare classes;
    stop unless the owner insists."""
    if report.verdict == "severe" and not force:
        raise DataError(severe_message(report))


def severe_message(report: HealthReport) -> str:
    rare = sorted(report.class_counts, key=report.class_counts.__getitem__)[:3]
    return (
        f"{report.source or 'the data'} is severely imbalanced (normalised entropy"
        f" {report.entropy_normalised:.3f} < 0.50; rarest classes: {', '.join(rare)}):"
        " training would refuse it unless --force is given; collect more rows of the rare"
        " classes or merge them with synonyms"
    )


# -- the stage -------------------------------------------------------------------------------


def prepare(data: LabelledData, config: HealthConfig) -> tuple[LabelledData, HealthReport]:
    """Normalise labels, clean and redact texts, remove duplicates; report what changed."""
    labels = [normalise_label(label, config.synonyms) for label in data.labels]
    renames = {raw: new for raw, new in zip(data.labels, labels, strict=True) if raw != new}
    _check_allowed(labels, config, data.source)

    redactions = dict.fromkeys(KINDS, 0)
    texts: list[str] = []
    kept_labels: list[str] = []
    quoted = signed = empty = 0
    for raw, label in zip(data.texts, labels, strict=True):
        cleaned = _clean(raw)
        quoted += cleaned.quoted_reply
        signed += cleaned.signature
        text = cleaned.text
        if config.redact and text:
            redaction = redact(text)
            text = redaction.text
            for kind, n in redaction.counts.items():
                redactions[kind] += n
        if not text:
            empty += 1
            continue
        texts.append(text)
        kept_labels.append(label)

    tokens = [_TOKEN.findall(text.lower()) for text in texts]
    keep, exact, conflicts, conflict_rows = _exact_duplicates(tokens, kept_labels, config)
    survivors = [i for i in range(len(texts)) if keep[i]]
    removed, near_conflicts = near_duplicates(
        [tokens[i] for i in survivors],
        [kept_labels[i] for i in survivors],
        config.near_duplicate_threshold,
    )
    final = [index for n, index in enumerate(survivors) if n not in removed]
    out = LabelledData(
        texts=[texts[i] for i in final],
        labels=[kept_labels[i] for i in final],
        source=data.source,
    )
    counts = Counter(out.labels)
    if len(counts) < 2:
        raise DataError(
            f"{data.source}: after cleaning and de-duplication only {len(out)} rows in"
            f" {len(counts)} class(es) remain; a classifier needs at least 2 classes"
        )
    nats, normalised = shannon_entropy(list(counts.values()))
    class_counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    report = HealthReport(
        rows_in=len(data),
        rows_out=len(out),
        exact_duplicates=exact,
        near_duplicates=len(removed),
        conflicting_duplicates=conflicts,
        quoted_replies_stripped=quoted,
        signatures_stripped=signed,
        redactions=redactions,
        class_counts=class_counts,
        entropy_nats=nats,
        entropy_normalised=normalised,
        verdict=imbalance_verdict(normalised),
        small_classes=[c for c, n in class_counts.items() if n < config.min_class_count][::-1],
        label_renames=renames,
        source=data.source,
        empty_dropped=empty,
        conflict_policy=config.conflict_policy,
        conflict_rows_dropped=conflict_rows,
        near_duplicate_conflicts=near_conflicts,
        min_class_count=config.min_class_count,
    )
    return out, report


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


# -- near duplicates: MinHash over word-bigram shingles, LSH banding, exact Jaccard check ----

_NUM_PERM = 64
_CHUNK_SHINGLES = 1 << 15
UInt64Array = npt.NDArray[np.uint64]


def near_duplicates(
    tokens: Sequence[Sequence[str]], labels: Sequence[str], threshold: float
) -> tuple[set[int], int]:
    """Indices to drop because an earlier text with the same label has word-bigram Jaccard
    similarity >= ``threshold``, and the number of such pairs whose labels differ (kept).

    MinHash + LSH finds candidates in about linear time; each candidate pair is then checked
    with the exact Jaccard, so the answer has no false positives."""
    shingles, offsets = _shingles(tokens)
    sizes = np.diff(offsets)
    present = np.flatnonzero(sizes)
    if present.size < 2:
        return set(), 0
    signatures = _minhash(shingles, offsets[present], sizes[present])
    candidates = _lsh_candidates(signatures, present, _band_rows(threshold))

    sets: dict[int, set[int]] = {}

    def as_set(index: int) -> set[int]:
        if index not in sets:
            sets[index] = set(shingles[offsets[index] : offsets[index + 1]].tolist())
        return sets[index]

    removed: set[int] = set()
    cross_label = 0
    for first, second in sorted(candidates, key=lambda pair: (pair[1], pair[0])):
        a, b = as_set(first), as_set(second)
        if len(a & b) < threshold * len(a | b):
            continue
        if labels[first] != labels[second]:
            cross_label += 1
        elif first not in removed:
            removed.add(second)
    return removed, cross_label


def _shingles(tokens: Sequence[Sequence[str]]) -> tuple[UInt64Array, npt.NDArray[np.int64]]:
    """Word bigrams (a one-word text keeps its word) of every text, flattened, with the offset
    of each text's first shingle. Words become ids in order of appearance, so the result does
    not depend on Python's per-process string hashing."""
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    ids = np.array([vocab[word] for words in tokens for word in words], dtype=np.uint64)
    lengths = np.array([len(words) for words in tokens], dtype=np.int64)
    ends = np.cumsum(lengths)
    last = np.zeros(ids.size, dtype=bool)
    last[ends[lengths > 0] - 1] = True
    doc = np.repeat(np.arange(len(tokens)), lengths)
    starts_bigram = np.flatnonzero(~last)
    bigrams = ((ids[starts_bigram] + np.uint64(1)) << np.uint64(32)) | ids[starts_bigram + 1]
    single = np.flatnonzero(last & (np.repeat(lengths, lengths) == 1))
    values = np.concatenate([bigrams, ids[single]])
    owners = np.concatenate([doc[starts_bigram], doc[single]])
    order = np.argsort(owners, kind="stable")
    counts = np.bincount(owners, minlength=len(tokens))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return values[order], offsets


def _minhash(
    shingles: UInt64Array, starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> UInt64Array:
    """(n, _NUM_PERM) MinHash signatures of the texts at ``starts``/``sizes`` (all non-empty),
    with multiply-shift hashes; uint64 arithmetic wraps, which the scheme relies on."""
    rng = np.random.default_rng(0)
    mult = rng.integers(1, 2**63, size=(_NUM_PERM, 1), dtype=np.uint64) * np.uint64(2) + 1
    add = rng.integers(0, 2**63, size=(_NUM_PERM, 1), dtype=np.uint64)
    ends = starts + sizes
    out = np.empty((_NUM_PERM, starts.size), dtype=np.uint64)
    first = 0
    while first < starts.size:
        stop = int(np.searchsorted(ends, starts[first] + _CHUNK_SHINGLES, side="right"))
        stop = max(stop, first + 1)
        chunk = _mix(shingles[starts[first] : ends[stop - 1]])
        hashed = (chunk[None, :] * mult + add) >> np.uint64(32)
        out[:, first:stop] = np.minimum.reduceat(hashed, starts[first:stop] - starts[first], axis=1)
        first = stop
    return np.ascontiguousarray(out.T)


def _lsh_candidates(
    signatures: UInt64Array, index: npt.NDArray[np.intp], rows: int
) -> set[tuple[int, int]]:
    """Pairs (i < j, as positions in ``index``'s values) that agree on a whole band."""
    weights = _band_weights(rows)
    candidates: set[tuple[int, int]] = set()
    for start in range(0, _NUM_PERM - rows + 1, rows):
        keys = (signatures[:, start : start + rows] * weights).sum(axis=1, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        same_as_next = sorted_keys[1:] == sorted_keys[:-1]
        if not same_as_next.any():
            continue
        group = np.concatenate(([0], np.cumsum(~same_as_next)))
        shared = np.flatnonzero(np.bincount(group) > 1)
        for g in shared.tolist():
            members = sorted(index[order[group == g]].tolist())
            for position, first in enumerate(members):
                for second in members[position + 1 :]:
                    candidates.add((first, second))
    return candidates


def _mix(values: UInt64Array) -> UInt64Array:
    """splitmix64 finaliser: spreads sequential ids over all 64 bits before hashing."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _band_weights(rows: int) -> UInt64Array:
    rng = np.random.default_rng(1)
    return rng.integers(1, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _band_rows(threshold: float) -> int:
    """The most MinHash rows per LSH band that still flag a pair at ``threshold`` with
    probability >= 0.995: more rows per band means fewer false candidates to check."""
    best = 1
    for rows in (1, 2, 4, 8, 16, 32):
        bands = _NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.995:
            best = rows
    return best

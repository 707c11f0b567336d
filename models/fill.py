"""Class-balance fill and hard negatives: extra training rows where the model is weakest.

A class with a small share of the rows gets a small share of the gradient, so its boundary is
learnt last and worst (CFPB's consumer loans). :func:`fill_plan` names the classes under a share
and how many rows each needs to reach it; :func:`fill_rows` makes them from the class's own rows
(long complaints: the opening of one row joined to the ending of another of the same class,
what a head+tail reader sees of a new complaint; short ones: a noisy copy, models/augment.py),
backing off to a plain copy when neither gives a text not already there. A configured teacher
endpoint (models/teacher.py) writes them instead, and only then does any text leave the machine.

Balance alone does not teach a boundary: :func:`hard_negative_rows` finds the most confused class
pairs in out-of-fold predictions and repeats the rows of A that look most like B, so the
boundary rows weigh more. Every generated row carries a :class:`Synthetic` mark (its generator
and source rows), the caller keeps them apart from real rows and never adds them to a test part.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models.augment import check_rate, noisy, parse_kinds
from models.data import LabelledData
from models.exceptions import DataError

#: A class under this fraction of the even share (1/k) is filled: 0.75 of 1/8 is 9.4 % of rows.
MINORITY_OF_EVEN = 0.75
#: What fill's noisy copies use: noise that keeps the meaning (emotion markers add words)
FILL_KINDS = ("typos", "casing", "slang", "punctuation")
FILL_RATE = 0.1
#: Sentences before a row counts as long enough to recombine
MIN_SENTENCES = 2
#: Out-of-fold folds for the confusion matrix: 3 fits keep it under a minute on 7,000 complaints
CONFUSION_FOLDS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Synthetic:
    """Where a generated row came from: ``kind`` (recombine, noise, oversample, teacher,
    hard_negative, cluster) and ``source``, the 1-based rows it was made from ("12+40")."""

    kind: str
    source: str
    #: what the row stands for beyond its label (a hard negative: the class it looks like)
    note: str = ""


class RowWriter(Protocol):
    """What writes fill rows instead of the local generators (models.teacher.Teacher)."""

    def generate(self, data: LabelledData, plan: dict[str, int]) -> Generated: ...


@dataclass(frozen=True)
class FillConfig:
    """What to fill: classes under ``share`` (None: 0.75 of the even share) up to it, plus
    ``hard_negatives`` repeated rows for each of the ``pairs`` most confused class pairs."""

    #: False: hard negatives only, no class-balance rows
    balance: bool = True
    share: float | None = None
    hard_negatives: int = 0
    pairs: int = 3
    kinds: tuple[str, ...] = FILL_KINDS
    rate: float = FILL_RATE
    seed: int = 13
    teacher: RowWriter | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.share is not None and not 0 < self.share < 1:
            raise DataError(
                f"fill share {self.share} is invalid: give the share each filled class should "
                "reach, 0 < share < 1 (0.1: a tenth of the rows)"
            )
        if self.hard_negatives < 0 or self.pairs < 1:
            raise DataError(
                f"hard negatives {self.hard_negatives} per pair over {self.pairs} pairs is "
                "invalid: give hard_negatives >= 0 and pairs >= 1"
            )
        parse_kinds(self.kinds)
        check_rate(self.rate)


@dataclass(frozen=True)
class Generated:
    """Generated rows only (the caller appends them), one mark per row."""

    data: LabelledData
    marks: list[Synthetic]

    def __len__(self) -> int:
        return len(self.marks)

    def counts(self) -> dict[str, int]:
        return dict(Counter(mark.kind for mark in self.marks))


@dataclass
class Rows:
    """Generated rows as they are made, then :meth:`done` as one :class:`Generated`."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    marks: list[Synthetic] = field(default_factory=list)

    def add(self, text: str, label: str, mark: Synthetic) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.marks.append(mark)

    def done(self, source: str) -> Generated:
        return Generated(LabelledData(self.texts, self.labels, source), self.marks)


def fill_plan(labels: Sequence[str], share: float | None = None) -> dict[str, int]:
    """Rows to add per class so each class under ``share`` reaches it after the additions.

    The total grows as rows are added, so the need is solved together: with the unfilled rows
    R and m filled classes, the new total is R / (1 - m * share). Classes largest-first stay out.
    """
    counts = Counter(labels)
    if len(counts) < 2:
        return {}
    target = share if share is not None else MINORITY_OF_EVEN / len(counts)
    filled = sorted(c for c, n in counts.items() if n / len(labels) < target)
    if len(filled) * target >= 1:
        raise DataError(
            f"fill share {target} is too high for {len(filled)} classes under it; "
            f"use a share below {1 / len(filled):.3f}"
        )
    rest = sum(n for c, n in counts.items() if c not in filled)
    total = rest / (1 - len(filled) * target)
    plan = {c: max(0, round(target * total) - counts[c]) for c in filled}
    return {c: n for c, n in plan.items() if n > 0}


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s]


def recombined(first: str, second: str) -> str | None:
    """The opening half of ``first`` and the closing half of ``second``; None when either is
    too short to have both."""
    a, b = sentences(first), sentences(second)
    if len(a) < MIN_SENTENCES or len(b) < MIN_SENTENCES:
        return None
    return " ".join(a[: len(a) // 2] + b[len(b) // 2 :])


def one_row(
    texts: Sequence[str], rows: Sequence[int], rng: random.Random, config: FillConfig
) -> tuple[str, Synthetic]:
    """One new text from a class's rows: recombined, else noisy, else a copy of its source."""
    i, j = rng.choice(rows), rng.choice(rows)
    if i != j:
        text = recombined(texts[i], texts[j])
        if text is not None:
            return text, Synthetic("recombine", f"{i + 1}+{j + 1}")
    text = noisy(texts[i], config.kinds, config.rate, rng)
    if text != texts[i]:
        return text, Synthetic("noise", str(i + 1))
    return texts[i], Synthetic("oversample", str(i + 1))


def fill_rows(data: LabelledData, config: FillConfig) -> Generated:
    """The rows :func:`fill_plan` asks for, distinct from every text already there where the
    generators can manage it (a repeat is retried, then kept as an oversampled copy)."""
    plan = fill_plan(data.labels, config.share) if config.balance else {}
    if config.teacher is not None:
        return config.teacher.generate(data, plan)
    rng = random.Random(config.seed)  # noqa: S311 - reproducible rows, not a secret
    seen = set(data.texts)
    made = Rows()
    for label, need in plan.items():
        rows = [i for i, x in enumerate(data.labels) if x == label]
        for _ in range(need):
            text, mark = one_row(data.texts, rows, rng, config)
            if text in seen and mark.kind != "oversample":
                text, mark = one_row(data.texts, rows, rng, config)
            if text in seen and mark.kind != "oversample":
                source = int(mark.source.split("+")[0]) - 1
                text, mark = data.texts[source], Synthetic("oversample", str(source + 1))
            seen.add(text)
            made.add(text, label, mark)
    return made.done(f"synthetic: fill of {data.source}")


def confused_pairs(
    labels: Sequence[str], predicted: Sequence[str], pairs: int
) -> list[tuple[str, str, int]]:
    """(true, predicted, count) of the most frequent mistakes, most first (ties by name)."""
    mistakes = Counter((t, p) for t, p in zip(labels, predicted, strict=True) if t != p)
    ranked = sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(t, p, n) for (t, p), n in ranked[:pairs]]


def hard_negative_rows(
    data: LabelledData, config: FillConfig, probabilities: Any = None
) -> Generated:
    """For each of the most confused pairs (A taken for B), a copy of the ``hard_negatives``
    rows of A that the out-of-fold model finds most like B: the rows the boundary runs through.

    ``probabilities`` (rows x ``data.classes``) are out-of-fold; None fits TF-IDF folds.
    """
    if config.hard_negatives == 0:
        return Rows().done(data.source)
    classes = data.classes
    if probabilities is None:
        from models.label_issues import out_of_fold_probabilities

        probabilities, classes = out_of_fold_probabilities(
            data, folds=CONFUSION_FOLDS, seed=config.seed
        )
    proba = np.asarray(probabilities)
    predicted = [classes[k] for k in proba.argmax(axis=1)]
    made = Rows()
    for true, other, _ in confused_pairs(data.labels, predicted, config.pairs):
        rows = np.array([i for i, x in enumerate(data.labels) if x == true])
        column = proba[rows, classes.index(other)]
        for i in rows[np.argsort(-column, kind="stable")[: config.hard_negatives]]:
            made.add(data.texts[i], true, Synthetic("hard_negative", str(i + 1), f"like {other}"))
    return made.done(f"synthetic: hard negatives of {data.source}")


def with_fill(
    data: LabelledData, config: FillConfig
) -> tuple[LabelledData, list[Synthetic | None]]:
    """``data`` followed by its fill and hard-negative rows; a parallel list of marks (None for
    each of ``data``'s own rows)."""
    extra = [fill_rows(data, config), hard_negative_rows(data, config)]
    marks: list[Synthetic | None] = [None] * len(data)
    marks += [m for g in extra for m in g.marks]
    # a generated row is made for its primary label: its extra heads' labels stay unknown
    texts = [t for g in extra for t in g.data.texts]
    return data.extended(texts, [x for g in extra for x in g.data.labels]), marks


# -- seeding from a failure cluster (models/clusters.py) ------------------------------------
def load_cluster(path: Path, cluster_id: int) -> dict[str, Any]:
    """Failure cluster ``cluster_id`` from a report: a metrics.json, the --report-dir holding
    it, or a model directory (its training report)."""
    from models.clusters import REPORT_METRICS

    path = Path(path)
    candidates = [path, path / "metrics.json", path / REPORT_METRICS]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise DataError(
            f"--clusters {path} holds no metrics.json: pass the --report-dir of `triage evaluate`"
            " (or its metrics.json, or a trained model's folder)"
        )
    try:
        clusters = json.loads(found.read_text(encoding="utf-8")).get("failure_clusters", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{found} is not a readable report ({exc}); rewrite it") from exc
    by_id = {c.get("id"): c for c in clusters if isinstance(c, dict)}
    if cluster_id not in by_id:
        raise DataError(
            f"{found} has no failure cluster {cluster_id}; its clusters are "
            f"{sorted(map(str, by_id))}"
        )
    return by_id[cluster_id]


def cluster_rows(data: LabelledData, cluster: dict[str, Any], config: FillConfig) -> Generated:
    """A noisy copy of each of the cluster's ``size`` rows of ``data`` nearest its
    representative among the cluster's true labels: more of the tickets the model got wrong."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    wanted = {m["true"] for m in cluster["mix"]}
    rows = [i for i, label in enumerate(data.labels) if label in wanted]
    if not rows:
        raise DataError(
            f"none of FILE's labels is a true label of cluster {cluster['id']} ({sorted(wanted)});"
            " seed from the file the model was trained on, read with the same --label-col"
        )
    text = cluster["representative"]["text"]
    vectors = TfidfVectorizer(sublinear_tf=True).fit_transform(
        [text] + [data.texts[i] for i in rows]
    )
    similarity = (vectors[1:] @ vectors[0].T).toarray().ravel()
    nearest = [rows[k] for k in np.argsort(-similarity, kind="stable")[: int(cluster["size"])]]
    rng = random.Random(config.seed)  # noqa: S311 - reproducible rows, not a secret
    texts = [noisy(data.texts[i], config.kinds, config.rate, rng) for i in nearest]
    predicted = sorted({m["predicted"] for m in cluster["mix"]})
    note = f"cluster {cluster['id']} (taken for {', '.join(predicted)})"
    marks = [Synthetic("cluster", str(i + 1), note) for i in nearest]
    labels = [data.labels[i] for i in nearest]
    return Generated(LabelledData(texts, labels, f"synthetic: cluster {cluster['id']}"), marks)


# -- files: the marked copy `triage data augment` writes, the rows it lists for review ------
SYNTHETIC_COLUMNS = ("synthetic", "synthetic_source", "synthetic_note")


def marked_records(
    records: list[dict[str, Any]], generated: Sequence[Generated], text_col: str, label_col: str
) -> list[dict[str, Any]]:
    """FILE's records (empty marks), then each generated row as a copy of its first source
    record with its own text, label and mark: every column of FILE survives."""
    blank = dict.fromkeys(SYNTHETIC_COLUMNS, "")
    out = [{**r, **blank} for r in records]
    for group in generated:
        for text, label, mark in zip(group.data.texts, group.data.labels, group.marks, strict=True):
            source = records[int(re.split(r"\D", mark.source)[0]) - 1]
            out.append(
                {
                    **source,
                    text_col: text,
                    label_col: label,
                    "synthetic": mark.kind,
                    "synthetic_source": mark.source,
                    "synthetic_note": mark.note,
                }
            )
    return out


def synthetic_records(records: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(1-based row, record) of each generated row: a ``synthetic`` mark, or ``augmented``
    true (a `--noise` copy)."""

    def generated(r: dict[str, Any]) -> bool:
        flag = r.get("augmented")
        return bool(r.get("synthetic")) or flag is True or str(flag).lower() == "true"

    return [(n, r) for n, r in enumerate(records, start=1) if generated(r)]

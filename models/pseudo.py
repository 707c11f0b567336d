"""Pseudo-labels: self-training on an unlabelled export, in rounds, each gated on validation.

An ML owner often has a few hundred labelled tickets and tens of thousands without a label.
A labeller guesses a label for each unlabelled row; rows it labels with confidence at or above
a threshold, and that the model trained on the labelled rows does not call novel, join
training with that label, and the model is fitted again. Two labellers: ``spread`` (the
default, models.spread: labels spread from the labelled rows through the base encoder's
sentence space) and ``self`` (the model's own calibrated confidence; it mostly repeats what
the model knows, see models.spread for the figures).

A round of wrong labels is the failure to guard against, so validation (real labels only,
never pseudo) is the judge: a round is kept only if it raises validation macro-F1, and the
first that does not ends self-training with the model before it. A level round is dropped
too: it brings the risk of its wrong labels and no measured gain (on banking77 teams a level
round at 0.9 cost the TF-IDF model a point of test macro-F1).

How far a pseudo-label can be trusted is measured, not assumed: the same rule (the labeller's
confidence at or above the threshold, not novel) is applied to the labelled validation rows,
which play the labelled check slice, and each class's share of correct labels among those is
reported beside the rows it got.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from models.base import Scores
from models.data import LabelledData
from models.evaluate import macro_f1
from models.exceptions import DataError
from models.train_config import Fitted, PseudoLabeller, Split


@dataclass(frozen=True)
class PseudoRound:
    """One round: the rows it labelled per class, their check-slice precision per class (None:
    no check row of that class passed the rule), and the validation macro-F1 it reached."""

    round: int
    added: dict[str, int]
    check_precision: dict[str, float | None]
    val_macro_f1: float
    kept: bool


@dataclass
class PseudoReport:
    """What self-training did; kept in the manifest (``pseudo_labels``) and printed."""

    threshold: float
    unlabelled: int
    val_macro_f1_before: float
    labeller: str = "self"
    rounds: list[PseudoRound] = field(default_factory=list)

    @property
    def added(self) -> dict[str, int]:
        """Pseudo-labelled rows per class that the kept model trained on."""
        total: Counter[str] = Counter()
        for kept in (r for r in self.rounds if r.kept):
            total.update(kept.added)
        return dict(sorted(total.items()))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "added": self.added}

    def render(self) -> str:
        lines = [
            f"pseudo-labels: {sum(self.added.values())} of {self.unlabelled} unlabelled rows at "
            f"{self.labeller} confidence >= {self.threshold} (validation macro-F1 before: "
            f"{self.val_macro_f1_before:.4f})"
        ]
        for r in self.rounds:
            verdict = "kept" if r.kept else "dropped: validation macro-F1 did not rise"
            lines.append(
                f"  round {r.round}: {sum(r.added.values())} rows, validation macro-F1 "
                f"{r.val_macro_f1:.4f} ({verdict})"
            )
            for label, n in sorted(r.added.items()):
                p = r.check_precision.get(label)
                shown = "no check row" if p is None else f"check precision {p:.3f}"
                lines.append(f"    {label:<28} {n:>6}  {shown}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PseudoConfig:
    threshold: float
    rounds: int
    labeller: PseudoLabeller = "self"


@dataclass(frozen=True)
class Guesses:
    """A labeller's label and confidence for each text, and the model's novelty verdict."""

    labels: list[str]
    confidence: np.ndarray[Any, np.dtype[np.float64]]
    novel: np.ndarray[Any, np.dtype[np.bool_]]


#: (the model, the texts, the model's scores of them) -> guesses. The scores come in because
#: the model always decides novelty, and the own-label labeller needs nothing else.
Labeller = Callable[[Any, Sequence[str], Scores], Guesses]
#: builds a run's labeller once the split and the pool of unlabelled rows are known
LabellerFactory = Callable[[Split, Sequence[str]], Labeller]


def own_guesses(classifier: Any, texts: Sequence[str], scores: Scores) -> Guesses:
    """The ``self`` labeller: the model's top label at its calibrated confidence."""
    best = scores.proba.argmax(axis=1)
    return Guesses(
        [classifier.labels[i] for i in best],
        np.asarray(scores.proba.max(axis=1), dtype=np.float64),
        np.asarray(scores.novel, dtype=bool),
    )


def own_labeller(parts: Split, pool: Sequence[str]) -> Labeller:
    return own_guesses


def usable(texts: Sequence[str], parts: Split) -> list[str]:
    """The unlabelled texts as training rows are: cleaned and redacted like every export, blanks
    and repeats dropped, and none that is also a labelled row (a test row must never come back
    as a training row under a machine's label)."""
    from models.clean import clean_text
    from models.redact import redact_text

    seen = {*parts.train.texts, *parts.val.texts, *parts.test.texts}
    out: list[str] = []
    for text in texts:
        cleaned = redact_text(clean_text(text)) or ""
        if cleaned.strip() and cleaned not in seen:
            seen.add(cleaned)
            out.append(cleaned)
    return out


def confident(guesses: Guesses, threshold: float) -> list[tuple[int, str]]:
    """(row, label) of every guess at confidence >= ``threshold`` on a row not novel."""
    keep = (guesses.confidence >= threshold) & ~guesses.novel
    return [(int(i), guesses.labels[i]) for i in np.flatnonzero(keep)]


@dataclass(frozen=True)
class Judged:
    """A model's validation macro-F1 and, per predicted class, the share right among the
    validation rows that pass the rule (the check slice): both from one scoring."""

    macro_f1: float
    check_precision: dict[str, float]


def judge(classifier: Any, val: LabelledData, threshold: float, labeller: Labeller) -> Judged:
    scores = classifier.score(val.texts)
    right: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for i, label in confident(labeller(classifier, val.texts, scores), threshold):
        passed[label] += 1
        right[label] += label == val.labels[i]
    precision = {label: right[label] / passed[label] for label in passed}
    return Judged(macro_f1(classifier, val.labels, scores.proba), precision)


def self_train(
    first: Fitted,
    parts: Split,
    unlabelled: Sequence[str],
    config: PseudoConfig,
    refit: Callable[[Split], Fitted],
    labeller: LabellerFactory = own_labeller,
) -> tuple[Fitted, PseudoReport]:
    """Rounds of pseudo-labelling from ``first`` (fitted, calibrated, with its novelty
    detector); ``refit`` runs the same fit, calibrate and novelty steps on a new split."""
    if len(parts.val) == 0:
        raise DataError(
            "pseudo-labels need validation rows to gate each round: keep val_fraction above 0 "
            "or pass --val"
        )
    pool = usable(unlabelled, parts)
    guess = labeller(parts, pool)
    best, judged = first, judge(first.classifier, parts.val, config.threshold, guess)
    report = PseudoReport(config.threshold, len(pool), judged.macro_f1, config.labeller)
    grown = parts.train
    for number in range(1, config.rounds + 1):
        scores = best.classifier.score(pool)
        picked = confident(guess(best.classifier, pool, scores), config.threshold)
        if not picked:
            break
        precision = judged.check_precision
        added = dict(Counter(label for _, label in picked))
        train = grown.extended(
            [pool[i] for i, _ in picked],
            [label for _, label in picked],
            f"{parts.train.source} + pseudo-labels round {number}",
        )
        candidate = refit(Split(train, parts.val, parts.test))
        outcome = judge(candidate.classifier, parts.val, config.threshold, guess)
        kept = outcome.macro_f1 > judged.macro_f1
        report.rounds.append(
            PseudoRound(number, added, {k: precision.get(k) for k in added}, outcome.macro_f1, kept)
        )
        if not kept:
            break
        best, grown = candidate, train
        chosen = {i for i, _ in picked}
        pool = [text for i, text in enumerate(pool) if i not in chosen]
        if number < config.rounds and pool:
            # the next round's guesses come from the grown set: a spread seeded by it reaches
            # the rows this round's seeds left below the threshold
            guess = labeller(Split(grown, parts.val, parts.test), pool)
            outcome = judge(best.classifier, parts.val, config.threshold, guess)
        judged = outcome
    best.record.rows["train_pseudo"] = sum(report.added.values())
    return best, report

"""Gates a retrained candidate must clear before it may replace the deployed model.

Two evaluation sets, because each catches what the other misses: the held-out gold test set
(the original labels: "did we forget what we knew?") and a held-out slice of corrections (the
tickets the deployed model found hard: "did we learn what people taught us?"). On each, the
candidate must clear the eval pack's floors and must not be worse than the deployed model on the
SAME rows by more than the margins (macro-F1, accuracy, and each class's F1 with enough rows),
judged by a paired bootstrap interval rather than by two point estimates: on a holdout of ~100
corrections one ticket swings every figure, and the point rule rejected three of five better
candidates in the issue-17 simulation.

A model with extra heads (urgency beside the team) is gated head by head: each head the gold
set labels gets its own sets (``gold_test:urgency``, and the holdout of urgency corrections),
with the eval pack's floors for that head (``EvalPack.heads``) and the same no-regression test
against the deployed model's head. For a multi-label head each label is a class and accuracy
is the exact-match share (:func:`models.set_metrics`; the paired test resamples the sets).

:func:`judge` is pure (metrics in, verdict out) so every rule is unit-tested without a model;
:func:`evaluate_sets` is the part that runs models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models import EvalPack, GateReport, LabelledData, check, compare, paired_bootstrap
from schemas import Correction

if TYPE_CHECKING:
    from models import Classifier

GOLD_TEST = "gold_test"
CORRECTIONS_HOLDOUT = "corrections_holdout"
#: between a set's name and an extra head's (``gold_test:urgency``): each head gates on its own
HEAD_SEP = ":"

Metrics = Mapping[str, Any]


@dataclass(frozen=True)
class Margins:
    """How much worse than the deployed model a candidate may be, on the same rows, and how sure
    the paired test must be before it calls the candidate worse."""

    macro_f1: float = 0.01
    class_f1: float = 0.05
    confidence: float = 0.95
    resamples: int = 2000


@dataclass(frozen=True)
class GateRule:
    """How a candidate is judged: the margins, and how many rows make a set or a class worth
    gating on. One value, so the trigger cannot pair the settings' margins with a default's
    support (the defaults here are the settings' defaults)."""

    margins: Margins = field(default_factory=Margins)
    min_holdout_rows: int = 20
    min_class_support: int = 15


def is_held_out(correction_id: str, share: float) -> bool:
    """Stable assignment by hash: a correction is held out in every run or in none, so a
    candidate is never gated on rows an earlier candidate trained on."""
    digest = hashlib.sha256(correction_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass
class SetVerdict:
    """The gates on one evaluation set; ``skipped`` says why a set did not gate."""

    rows: int
    floors: GateReport = field(default_factory=GateReport)
    regression: GateReport = field(default_factory=GateReport)
    skipped: str | None = None
    thin_classes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.skipped is not None or (self.floors.passed and self.regression.passed)

    def failures(self) -> list[str]:
        return self.floors.failures() + self.regression.failures()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "passed": self.passed,
            "skipped": self.skipped,
            "classes_not_gated_too_few_rows": self.thin_classes,
            "floors": self.floors.to_dict(),
            "no_regression": self.regression.to_dict(),
            "failures": self.failures(),
        }


@dataclass
class Verdict:
    """Every gate of one candidate; stored as the model version's gate report."""

    sets: dict[str, SetVerdict]
    candidate: dict[str, Any]
    deployed: dict[str, Any] | None
    #: heads the deployed model serves that the candidate lacks: deploying it would drop them
    #: from every decision (and silence any escalation rule on them)
    lost_heads: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.lost_heads and all(v.passed for v in self.sets.values())

    def failures(self) -> list[str]:
        lines = [f"{name}: {line}" for name, v in self.sets.items() for line in v.failures()]
        if self.lost_heads:
            lines.append(
                f"heads: the deployed model's heads {self.lost_heads} are missing from the "
                "candidate; the learner trains the heads the gold set labels, so write the "
                "gold set with them (`triage init --gold FILE --task-col ...`)"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "lost_heads": self.lost_heads,
            "failures": self.failures(),
            "sets": {name: v.to_dict() for name, v in self.sets.items()},
            "candidate_metrics": self.candidate,
            "deployed_metrics": self.deployed,
        }


def judge(
    candidate: Mapping[str, Metrics],
    deployed: Mapping[str, Metrics] | None,
    *,
    pack: EvalPack,
    margins: Margins,
    min_holdout_rows: int,
    min_class_support: int = 5,
) -> Verdict:
    """Apply the gates to per-set metrics (``{set: {macro_f1, accuracy, per_class, rows}}``).

    The gold test set always gates. The corrections holdout gates once it has at least
    ``min_holdout_rows`` rows: F1 on a handful of tickets is noise, and blocking every early
    retrain on noise would stop the loop from ever learning. No deployed model (first deploy)
    means no regression gates, only floors.

    Per-class gates skip a class with fewer than ``min_class_support`` rows in a set: F1 on one
    or two tickets is 0 or 1 by chance (the first banking77 simulation rejected three good
    candidates on `fx` with 2 held-out rows). The skipped classes are listed in the report.
    """
    if GOLD_TEST not in candidate:
        raise ValueError(f"candidate metrics lack {GOLD_TEST!r}; the gold test set always gates")
    sets: dict[str, SetVerdict] = {}
    for name, metrics in candidate.items():
        rows = int(metrics.get("rows", 0))
        if set_of(name) != GOLD_TEST and rows < min_holdout_rows:
            sets[name] = SetVerdict(
                rows=rows, skipped=f"{rows} rows < {min_holdout_rows} needed to gate"
            )
            continue
        gated, thin = _drop_thin_classes(metrics, min_class_support)
        head = head_of(name)
        floors = check(gated, pack.for_head(head) if head is not None else pack)
        verdict = SetVerdict(rows=rows, floors=floors, thin_classes=thin)
        if deployed is not None and name in deployed:
            verdict.regression = _no_regression(metrics, deployed[name], margins, gated)
        sets[name] = verdict
    return Verdict(
        sets=sets,
        candidate={k: _summary(v) for k, v in candidate.items()},
        deployed={k: _summary(v) for k, v in deployed.items()} if deployed is not None else None,
    )


def head_set(name: str, head: str) -> str:
    """The name an extra head's share of set ``name`` gates under (``gold_test:urgency``)."""
    return f"{name}{HEAD_SEP}{head}"


def set_of(name: str) -> str:
    return name.partition(HEAD_SEP)[0]


def head_of(name: str) -> str | None:
    """The extra head a set name is for; None for the primary head's sets."""
    return name.partition(HEAD_SEP)[2] or None


def head_view(data: LabelledData, head: str) -> LabelledData:
    """The rows of ``data`` that give head ``head`` a label, with that label as theirs: what
    that head is scored and gated on. A multi-label head's rows keep their sets in ``heads``
    (their ``labels`` are the sets as Correction.set_label writes them)."""
    given = data.heads[head]
    if not given.multilabel:
        known = [(i, value[0]) for i, value in enumerate(given.values) if value]
        return LabelledData(
            [data.texts[i] for i, _ in known], [x for _, x in known], f"{data.source}:{head}"
        )
    rows = [i for i, value in enumerate(given.values) if value is not None]
    sets = [tuple(given.values[i] or ()) for i in rows]
    return set_view([data.texts[i] for i in rows], sets, f"{data.source}:{head}", head)


def set_view(texts: list[str], sets: list[tuple[str, ...]], source: str, head: str) -> LabelledData:
    """Rows labelled with a multi-label head's sets (in ``heads``, and as ``labels``)."""
    from models import HeadLabels

    labels = [Correction.set_label(list(x)) for x in sets]
    return LabelledData(texts, labels, source, {head: HeadLabels(True, list(sets))})


def lost_heads(candidate: Any, deployed: Any) -> list[str]:
    """The heads (by name, from each model's manifest) ``deployed`` has and ``candidate``
    lacks; none when either has no manifest."""
    had = getattr(getattr(deployed, "manifest", None), "heads", None) or {}
    has = getattr(getattr(candidate, "manifest", None), "heads", None) or {}
    return sorted(set(had) - set(has)) if has else []


def _no_regression(
    candidate: Metrics, deployed: Metrics, margins: Margins, gated: Metrics
) -> GateReport:
    """The paired test on one set; per class only for the classes ``gated`` kept."""
    for side, metrics in (("candidate", candidate), ("deployed", deployed)):
        if "predicted" not in metrics or "labels" not in metrics:
            raise ValueError(
                f"{side} metrics lack per-row labels/predictions: build them with evaluate_sets"
            )
    if list(candidate["labels"]) != list(deployed["labels"]):
        raise ValueError("candidate and deployed were scored on different rows; pair them")
    sample = paired_bootstrap(
        candidate["labels"],
        candidate["predicted"],
        deployed["predicted"],
        resamples=margins.resamples,
    )
    return compare(
        sample,
        margin=margins.macro_f1,
        class_margin=margins.class_f1,
        confidence=margins.confidence,
        classes=sorted(label for label in gated["per_class"] if label in sample.support),
    )


def _drop_thin_classes(
    metrics: Metrics, min_support: int, keep: list[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``metrics`` without per-class entries supported by fewer than ``min_support`` rows.

    With ``keep`` (the thin classes found on the candidate's side) the same classes are dropped,
    so both sides of a comparison judge the same classes.
    """
    per_class = metrics.get("per_class", {})
    thin = (
        list(keep)
        if keep is not None
        else sorted(label for label, m in per_class.items() if m.get("support", 0) < min_support)
    )
    gated = dict(metrics)
    gated["per_class"] = {label: m for label, m in per_class.items() if label not in thin}
    if thin and gated["per_class"]:  # macro-F1 over the classes that are judged
        f1s = [float(m["f1"]) for m in gated["per_class"].values()]
        gated["macro_f1"] = sum(f1s) / len(f1s)
    return gated, thin


def _summary(metrics: Metrics) -> dict[str, Any]:
    return {
        "rows": metrics.get("rows"),
        "macro_f1": metrics["macro_f1"],
        "accuracy": metrics["accuracy"],
        "per_class_f1": {label: m["f1"] for label, m in metrics["per_class"].items()},
    }


def evaluate_sets(
    model: Classifier, sets: Mapping[str, LabelledData], pack: EvalPack
) -> dict[str, dict[str, Any]]:
    """Metrics of ``model`` on each non-empty set, in the shape :func:`judge` reads."""
    from models import evaluate_model as evaluate

    out: dict[str, dict[str, Any]] = {}
    for name, data in sets.items():
        head = head_of(name)
        if head is not None:
            out[name] = _head_figures(model, head, data)
            continue
        if len(data) == 0:
            out[name] = {
                "rows": 0,
                "macro_f1": 0.0,
                "accuracy": 0.0,
                "per_class": {},
                "labels": [],
                "predicted": [],
            }
            continue
        # the gates read figures only: no failure clusters (a second pass over the failures)
        evaluation = evaluate(model, data.texts, data.labels, pack=pack, max_clusters=0)
        out[name] = {
            "rows": evaluation.rows,
            "macro_f1": evaluation.macro_f1,
            "accuracy": evaluation.accuracy,
            "per_class": evaluation.per_class,
            "labels": list(data.labels),
            "predicted": evaluation.predicted,
        }
    return out


def _head_figures(model: Classifier, head: str, data: LabelledData) -> dict[str, Any]:
    """Extra head ``head``'s figures on ``data`` (its labels are that head's: sets in
    ``data.heads`` for a multi-label head, see :func:`head_view`), from the one forward pass
    that scores every head; a model without the head answers nothing, which the gates compare
    as a head that gets every row wrong."""
    from models import label_metrics, set_metrics

    given = data.heads.get(head)
    if len(data) == 0:
        return {**label_metrics([], []), "labels": [], "predicted": []}
    answers = model.score(data.texts).heads.get(head)
    if given is not None and given.multilabel:
        truth = [tuple(sorted(x or ())) for x in given.values]
        chosen = [
            tuple(sorted(answers.chosen(i))) if answers is not None else ()
            for i in range(len(data))
        ]
        return {**set_metrics(truth, chosen), "labels": truth, "predicted": chosen}
    predicted = (
        [answers.labels[int(i)] for i in answers.proba.argmax(axis=1)]
        if answers is not None
        else [""] * len(data)
    )
    return {
        **label_metrics(data.labels, predicted),
        "labels": list(data.labels),
        "predicted": predicted,
    }

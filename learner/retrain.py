"""Retraining: the gold set plus every correction in, a candidate model directory out.

The candidate is trained by the models pipeline (:mod:`models.pipeline`: data health, fit,
calibration, novelty, evaluation, gates, save), with the backend chosen through its one registry,
never a copy of it, so a retrained model is built exactly like the one a person trains with
``triage train``.

A candidate is written to ``<out_root>/.staging-<random>`` and renamed to ``<out_root>/<version>``
only once complete, so a version directory is always a whole artifact; a training killed
before the rename leaves only a staging directory, which nothing serves and
:func:`sweep_staging` removes before the next run.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from learner.exceptions import RetrainError
from learner.gates import (
    CORRECTIONS_HOLDOUT,
    GOLD_TEST,
    head_set,
    head_view,
    is_held_out,
    set_view,
)
from models import HeadColumn, HeadLabels, LabelledData, read_labelled
from schemas import CORRECTION_HEAD, Correction
from store import TrainingCorrection

if TYPE_CHECKING:
    from models import Classifier, EvalPack, Hierarchy, TrainConfig

Backend = Literal["lora-transformer", "tfidf"]
GOLD_TEXT_COL = "text"
GOLD_LABEL_COL = "label"
GOLD_HEADS_FILE = "heads.json"


@dataclass(frozen=True)
class GoldSet:
    """The original labelled data: what the first model learned and what every model is
    tested on. ``<gold_dir>/train.jsonl`` and ``<gold_dir>/test.jsonl``, one
    ``{"text": ..., "label": ...}`` per line (JSON Lines: no CSV dialect to guess wrong).

    Extra heads (``triage init --task-col urgency``) are more keys on each line, declared in
    ``<gold_dir>/heads.json`` with their loss weights: the gold set says which heads every
    retrained model has, so a retrain trains them all, weighted as the first model was."""

    train: LabelledData
    test: LabelledData
    heads: tuple[HeadColumn, ...] = ()
    #: head name -> its weight in the joint loss (TrainConfig.head_weights)
    weights: Mapping[str, float] = field(default_factory=dict)
    #: the head (one of ``heads``) that sits under the primary one: a team -> intent hierarchy
    #: (``triage init --sub-label-col intent``), which retrains as a hierarchy
    child: str | None = None

    def hierarchy(self) -> Hierarchy | None:
        """The child -> parent mapping the gold rows give (every row names both)."""
        from models import Hierarchy

        if self.child is None:
            return None
        pairs = [
            (value[0], label)
            for data in (self.train, self.test)
            for value, label in zip(data.heads[self.child].values, data.labels, strict=True)
            if value
        ]
        return Hierarchy.from_pairs(pairs, self.child, where="the gold set")

    def trainable(self, data: LabelledData) -> LabelledData:
        """``data`` as a model of this gold set trains and is tested on it: its rows' child
        labels for a hierarchy (:func:`as_children`), the rows unchanged otherwise."""
        hierarchy = self.hierarchy()
        return as_children(data, hierarchy) if hierarchy is not None else data

    @classmethod
    def read(cls, gold_dir: Path) -> GoldSet:
        paths = {name: Path(gold_dir) / f"{name}.jsonl" for name in ("train", "test")}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise RetrainError(
                f"the gold set is incomplete: {', '.join(missing)} missing; write the original "
                f"labelled data there (columns {GOLD_TEXT_COL},{GOLD_LABEL_COL}) with "
                "`triage init --gold FILE`, or set TRIAGE_GOLD_DIR"
            )
        heads, weights, child = _read_heads(Path(gold_dir) / GOLD_HEADS_FILE)
        return cls(
            train=read_labelled(paths["train"], GOLD_TEXT_COL, GOLD_LABEL_COL, heads),
            test=read_labelled(paths["test"], GOLD_TEXT_COL, GOLD_LABEL_COL, heads),
            heads=heads,
            weights=weights,
            child=child,
        )

    def write(self, gold_dir: Path) -> None:
        import json

        gold_dir.mkdir(parents=True, exist_ok=True)
        if self.heads:
            declared = {
                c.column: {"multilabel": c.multilabel, "sep": c.sep, **self._extra(c.column)}
                for c in self.heads
            }
            (gold_dir / GOLD_HEADS_FILE).write_text(json.dumps(declared, indent=2) + "\n")
        for name, data in (("train", self.train), ("test", self.test)):
            with (gold_dir / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
                for i, (text, label) in enumerate(zip(data.texts, data.labels, strict=True)):
                    row: dict[str, str | None] = {GOLD_TEXT_COL: text, GOLD_LABEL_COL: label}
                    for c in self.heads:
                        row[c.column] = _cell(c, data.heads[c.column].values[i])
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _extra(self, head: str) -> dict[str, float | str]:
        extra: dict[str, float | str] = {"parent": CORRECTION_HEAD} if head == self.child else {}
        return {**extra, "weight": self.weights[head]} if head in self.weights else extra


def _cell(column: HeadColumn, value: tuple[str, ...] | None) -> str | None:
    """A head's label as the reader reads it back: a label set joined by its separator, an
    unknown task label as null."""
    if column.multilabel:
        return column.sep.join(value or ())
    return value[0] if value else None


def _read_heads(path: Path) -> tuple[tuple[HeadColumn, ...], dict[str, float], str | None]:
    """The heads ``heads.json`` declares, their weights and the hierarchy's child head (none
    without the file: a gold set of one head)."""
    import json

    if not path.is_file():
        return (), {}, None
    try:
        declared = json.loads(path.read_text("utf-8"))
        heads = tuple(
            HeadColumn(name, bool(spec.get("multilabel")), str(spec.get("sep", ";")))
            for name, spec in declared.items()
        )
        weights = {n: float(s["weight"]) for n, s in declared.items() if "weight" in s}
        children = [n for n, spec in declared.items() if spec.get("parent") == CORRECTION_HEAD]
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        raise RetrainError(
            f"{path} is not a heads declaration ({exc}): it maps each extra head's name to "
            '{"multilabel": false} or {"multilabel": true, "sep": ";"}; write it again with '
            "`triage init --gold FILE --task-col NAME`"
        ) from exc
    return heads, weights, children[0] if children else None


def missing_heads(deployed: Mapping[str, object], gold: GoldSet) -> list[str]:
    """The deployed model's heads (its manifest's, the primary left out) that the gold set
    does not label: a retrain could not train them, and a candidate without them would be
    rejected for dropping them after the whole training."""
    labelled = {c.column for c in gold.heads}
    return sorted(name for name in deployed if name != CORRECTION_HEAD and name not in labelled)


def split_corrections(
    corrections: Sequence[TrainingCorrection], holdout_share: float
) -> tuple[list[TrainingCorrection], list[TrainingCorrection]]:
    """(train, held out): the held-out slice gates candidates and is never trained on."""
    train: list[TrainingCorrection] = []
    held: list[TrainingCorrection] = []
    for c in corrections:
        (held if is_held_out(c.correction_id, holdout_share) else train).append(c)
    return train, held


def as_labelled(
    corrections: Sequence[TrainingCorrection], source: str, head: str = CORRECTION_HEAD
) -> LabelledData:
    """One row per text corrected on ``head``, the latest correction's label (reviewers' last
    word): a holdout for that head alone, since a ticket's urgency is no answer for its team."""
    latest: dict[str, str] = {}
    for c in corrections:  # oldest first: later ones overwrite
        if c.head == head:
            latest[c.text] = c.label
    return LabelledData(texts=list(latest), labels=list(latest.values()), source=source)


def training_set(gold: LabelledData, corrections: Sequence[TrainingCorrection]) -> LabelledData:
    """Gold rows plus corrections; a correction replaces the gold label of the same text,
    because a person who looked at this ticket today outranks an old label.

    A correction names its head: a primary one sets the row's label, another sets that head's
    label of the row. A head correction of a text with no primary label here (neither gold nor
    corrected) waits: a row cannot train without its primary label, and the decision's machine
    label is not one. A head the gold set lacks is not trained (the trigger refuses such a run
    before it starts, see :func:`missing_heads`)."""
    merged: dict[str, str] = dict(zip(gold.texts, gold.labels, strict=True))
    values = {
        name: dict(zip(gold.texts, head.values, strict=True)) for name, head in gold.heads.items()
    }
    for c in corrections:
        if c.head == CORRECTION_HEAD:
            merged[c.text] = c.label
        elif c.head in values:  # a multi-label head's correction is its whole set
            multi = gold.heads[c.head].multilabel
            values[c.head][c.text] = Correction.label_set(c.label) if multi else (c.label,)
    heads = {
        name: HeadLabels(gold.heads[name].multilabel, [given.get(text) for text in merged])
        for name, given in values.items()
    }
    return LabelledData(
        texts=list(merged),
        labels=list(merged.values()),
        source=f"{gold.source}+corrections",
        heads=heads,
    )


def as_children(data: LabelledData, hierarchy: Hierarchy) -> LabelledData:
    """The rows a hierarchy trains on: labelled with their child label, where the child sits
    under the row's primary label. A row whose team a reviewer changed, and whose intent
    nobody changed to match, has no child label it can train (its old intent is another
    team's) and is left out. Labels are compared in the normal form training gives them: a
    correction names the deployed model's ``refund_not_showing_up`` where the export that
    became the gold set said ``Refund_not_showing_up``."""
    from models import normalise_label

    tree = hierarchy.normalised({})
    values = data.heads[hierarchy.child_head].values
    rows = [
        (i, value[0])
        for i, (value, label) in enumerate(zip(values, data.labels, strict=True))
        if value and tree.parent_of.get(normalise_label(value[0], {})) == normalise_label(label, {})
    ]
    taken = data.take([i for i, _ in rows])
    return replace(
        taken,
        labels=[child for _, child in rows],
        source=f"{data.source} (children)",
        heads={n: h for n, h in taken.heads.items() if n != hierarchy.child_head},
    )


def gate_sets(gold: GoldSet, held: Sequence[TrainingCorrection]) -> dict[str, LabelledData]:
    """The sets a candidate is gated on: the gold test set and the corrections holdout for the
    primary head, and the same two for each head the gold set labels (each with that head's
    labels, named ``gold_test:urgency``; see :mod:`learner.gates`)."""
    sets = {GOLD_TEST: gold.test, CORRECTIONS_HOLDOUT: as_labelled(held, "holdout")}
    for column in gold.heads:
        name = column.column
        sets[head_set(GOLD_TEST, name)] = head_view(gold.test, name)
        fixes = as_labelled(held, f"holdout:{name}", name)
        if column.multilabel:  # each correction's label is its set (Correction.set_label)
            sets_of = [Correction.label_set(label) for label in fixes.labels]
            fixes = set_view(fixes.texts, sets_of, fixes.source, name)
        sets[head_set(CORRECTIONS_HOLDOUT, name)] = fixes
    return sets


STAGING_PREFIX = ".staging-"


def sweep_staging(out_root: Path) -> list[Path]:
    """Remove the staging directories dead trainings left under ``out_root``; returns them.

    Only safe while no training writes there (the trigger calls it before a run starts).
    """
    if not out_root.is_dir():
        return []
    swept = [p for p in out_root.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    for path in swept:
        shutil.rmtree(path, ignore_errors=True)
    return swept


@dataclass(frozen=True)
class Candidate:
    version: str
    model_dir: Path
    model: Classifier


def fit_candidate(
    data: LabelledData,
    out_root: Path,
    *,
    backend: Backend,
    test: LabelledData,
    pack: EvalPack,
    base_model: str | None = None,
    config: TrainConfig | None = None,
    device: str | None = None,
    unlabelled: Sequence[str] = (),
    head_weights: Mapping[str, float] | None = None,
    hierarchy: Hierarchy | None = None,
) -> Candidate:
    """Train on ``data`` through the models pipeline (data health included) and write the
    artifact to ``<out_root>/<version>`` (atomically); ``device`` overrides the config's.
    ``unlabelled`` texts are self-trained on as pseudo-labels (models.pseudo); ``head_weights``
    weigh the extra heads in the joint loss. With a ``hierarchy``, ``data`` and ``test`` are
    labelled with the child labels (:func:`as_children`)."""
    from models import BACKENDS, TrainConfig, TrainRequest, default_base_model, run

    out_root.mkdir(parents=True, exist_ok=True)
    staging = out_root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
    if backend not in BACKENDS:
        raise RetrainError(f"backend {backend!r} is unknown; use one of {sorted(BACKENDS)}")
    config = config or TrainConfig()
    if head_weights:  # the gold set's (GoldSet.weights): every retrain weighs heads alike
        config = replace(config, head_weights={**head_weights, **config.head_weights})
    request = TrainRequest(
        data=data,
        config=replace(config, device=device) if device is not None else config,
        pack=pack,
        kind=backend,
        base_model=base_model or default_base_model(),
        test=test,
        progress=False,
        unlabelled=unlabelled,
        hierarchy=hierarchy,
    )
    try:
        result = run(request, staging)
        model = result.classifier
        final = out_root / model.version
        if final.exists():
            raise RetrainError(
                f"{final} already exists: a model of version {model.version} was trained on the "
                "same data in the same second; wait and retrain"
            )
        staging.replace(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Candidate(version=model.version, model_dir=final, model=model)

"""The one training pipeline: prepare -> split -> fit -> calibrate -> novelty -> pseudo-labels
(when unlabelled rows are given) -> evaluate (with the drift reference) -> gate -> save.

`triage train`, the learner's retrain and distillation's student all go through these steps, so
a model is built the same way whoever asks for it. What differs per backend (how to fit, whether
there is a temperature or a novelty detector) is the backend's :class:`Trainer`, found through the
one registry, :mod:`models.backends`. Data health (:func:`prepare`) is a step here, not something
each caller remembers to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.artifact import hash_texts
from models.backends import backend, resolve
from models.bands import Thresholds
from models.data import LabelledData
from models.evaluate import evaluate
from models.exceptions import DataError, ModelError
from models.gates import EvalPack, GateReport
from models.health import HealthConfig, HealthReport
from models.health import prepare as health_prepare
from models.hierarchy import Hierarchy, as_hierarchy
from models.imbalance import refuse_if_severe
from models.reference import drift_reference
from models.result import TrainResult
from models.tfidf import TfidfClassifier
from models.train_config import FitContext, Fitted, Split, TrainConfig, Trainer, split

if TYPE_CHECKING:
    from models.pseudo import LabellerFactory

#: (role, data before health, its report): how a caller shows what data health did.
HealthHook = Callable[[str, LabelledData, HealthReport], None]


@dataclass
class TrainRequest:
    """Everything one run needs; the caller (CLI, learner) has read its settings already."""

    data: LabelledData
    config: TrainConfig
    pack: EvalPack
    kind: str = "lora-transformer"
    base_model: str = ""
    val: LabelledData | None = None
    test: LabelledData | None = None
    thresholds: Thresholds | None = None
    #: None skips data health (a caller whose rows are already prepared, e.g. a benchmark)
    health: HealthConfig | None = field(default_factory=HealthConfig)
    force: bool = False
    progress: bool = True
    on_health: HealthHook | None = None
    #: shown the pseudo-label report (models.pseudo.PseudoReport.render) when there is one
    on_pseudo: Callable[[str], None] | None = None
    #: train on the child labels and serve parent (primary head) + child (models.hierarchy)
    hierarchy: Hierarchy | None = None
    #: texts without a label: pseudo-labelled in rounds (models.pseudo) after the first fit
    unlabelled: Sequence[str] = ()


@dataclass
class Prepared:
    data: LabelledData
    val: LabelledData | None
    test: LabelledData | None
    health: dict[str, Any] = field(default_factory=dict)


def prepare(request: TrainRequest) -> Prepared:
    """Data health on every part given; a severely imbalanced train part stops the run unless
    ``force``. The train part's report goes into the manifest."""
    config = request.health
    if config is None:
        return Prepared(request.data, request.val, request.test)

    def one(role: str, data: LabelledData) -> tuple[LabelledData, HealthReport]:
        cleaned, report = health_prepare(data, config)
        if request.on_health is not None:
            request.on_health(role, data, report)
        if role == "train":
            refuse_if_severe(report, force=request.force)
        return cleaned, report

    data, report = one("train", request.data)
    val = one("validation", request.val)[0] if request.val is not None else None
    test = one("test", request.test)[0] if request.test is not None else None
    return Prepared(data, val, test, report.to_dict())


def split_parts(prepared: Prepared, config: TrainConfig, needs_validation: bool) -> Split:
    """Seeded, stratified split of what the caller did not give explicitly."""
    val, test = prepared.val, prepared.test
    val_fraction = 0.0 if val is not None or not needs_validation else config.val_fraction
    parts = split(
        prepared.data, val_fraction, 0.0 if test is not None else config.test_fraction, config.seed
    )
    parts = Split(train=parts.train, val=val or parts.val, test=test or parts.test)
    if len(parts.test) == 0:
        raise DataError("no rows left to evaluate on; pass --test or keep test_fraction above 0")
    known = set(parts.train.labels)
    for role, given in (("val", val), ("test", test)):
        # checked before an hour of training, not after: "Mortgage" vs "mortgage" would
        # otherwise score every row wrong
        if given is not None and len(given) and not known & set(given.labels):
            raise DataError(
                f"none of the {role} labels {sorted(set(given.labels))[:3]} occurs in training "
                f"{sorted(known)[:3]}; read both files with the same label normalisation "
                "(models.labels.normalise_label, as `triage train` does)"
            )
    return parts


def fit(trainer: Trainer, parts: Split, request: TrainRequest) -> Fitted:
    """With ``augment_noise``, the train part (never val or test) gains a noisy copy of each
    row; the manifest counts them as ``rows["train_augmented"]``. With ``fill`` (or hard
    negatives) it gains models/fill.py's rows, counted as ``rows["train_fill"]`` and
    ``rows["train_hard_negatives"]``."""
    context = FitContext(request.base_model, request.thresholds, request.progress)
    rate = request.config.augment_noise
    train, extra = _filled(parts.train, request.config)
    if rate:
        from models.augment import KINDS, with_augmented

        train, flags = with_augmented(train, KINDS, rate, request.config.seed)
        extra["train_augmented"] = sum(flags)
    if not extra:
        return trainer.fit(parts, request.config, context)
    fitted = trainer.fit(Split(train, parts.val, parts.test), request.config, context)
    fitted.record.rows.update(extra)
    return fitted


def _filled(train: LabelledData, config: TrainConfig) -> tuple[LabelledData, dict[str, int]]:
    """The train part with its fill and hard-negative rows, and their counts (none: as given)."""
    if not config.fill and not config.hard_negatives:
        return train, {}
    from models.fill import FillConfig, with_fill
    from models.teacher import configured_teacher

    fill = FillConfig(
        balance=config.fill,
        share=config.fill_share,
        hard_negatives=config.hard_negatives,
        seed=config.seed,
        teacher=configured_teacher() if config.fill else None,
    )
    filled, marks = with_fill(train, fill)
    kinds = [m.kind for m in marks if m is not None]
    counts = {"train_hard_negatives": kinds.count("hard_negative")}
    counts["train_fill"] = len(kinds) - counts["train_hard_negatives"]
    return filled, counts


def pseudo_label(trainer: Trainer, fitted: Fitted, parts: Split, request: TrainRequest) -> Fitted:
    """Self-training on ``request.unlabelled`` (none: ``fitted`` as it is); every round is fitted,
    calibrated and given its novelty detector like the first model."""
    if not request.unlabelled:
        return fitted
    from models.pseudo import PseudoConfig, self_train

    def refit(more: Split) -> Fitted:
        again = fit(trainer, more, request)
        calibrate(trainer, again)
        novelty(trainer, again, request.config)
        return again

    settings = request.config
    config = PseudoConfig(
        settings.pseudo_threshold, settings.pseudo_rounds, settings.pseudo_labeller
    )
    best, report = self_train(
        fitted, parts, request.unlabelled, config, refit, labeller_for(request)
    )
    best.record.pseudo_labels = report.to_dict()
    if request.on_pseudo is not None:
        request.on_pseudo(report.render())
    return best


def labeller_for(request: TrainRequest) -> LabellerFactory:
    """``spread`` embeds with the base encoder (a TF-IDF run has none of its own: the shipped
    MiniLM), on the device and at the token length the run asked for."""
    from models.pseudo import own_labeller

    if request.config.pseudo_labeller == "self":
        return own_labeller
    from models.encoder import sentence_embeddings
    from models.settings import default_base_model
    from models.spread import spreading

    name = request.base_model or default_base_model()
    config = request.config
    return spreading(
        lambda texts: sentence_embeddings(
            name, texts, max_length=config.max_length, device=config.device
        )
    )


def calibrate(trainer: Trainer, fitted: Fitted) -> None:
    trainer.calibrate(fitted)


def novelty(trainer: Trainer, fitted: Fitted, config: TrainConfig) -> None:
    trainer.novelty(fitted, config)


def evaluate_step(
    fitted: Fitted, parts: Split, prepared: Prepared, request: TrainRequest, with_baseline: bool
) -> TrainResult:
    """Held-out metrics beside a TF-IDF baseline fitted on the same train part."""
    fitted.record.rows["test"] = len(parts.test)
    baseline = (
        TfidfClassifier().fit(parts.train.texts, parts.train.labels) if with_baseline else None
    )
    evaluation = evaluate(
        fitted.classifier,
        parts.test.texts,
        parts.test.labels,
        pack=request.pack,
        baseline=baseline,
        heads=parts.test.heads,
    )
    return TrainResult(
        classifier=fitted.classifier,
        record=fitted.record,
        evaluation=evaluation,
        baseline=baseline,
        split=parts,
        data_hash=hash_texts(prepared.data.texts, prepared.data.labels),
        health=prepared.health,
        drift_reference=drift_reference(fitted.classifier, parts),
    )


def gate(result: TrainResult) -> GateReport:
    """The eval pack's verdict (evaluate applied its floors); saved whatever it says, so a
    failing model can be looked at. Callers decide whether a failure is an error."""
    return result.evaluation.gates


def train(request: TrainRequest) -> TrainResult:
    """Every step but save; the result's :meth:`TrainResult.save` writes the artifact."""
    entry = backend(request.kind)
    if not entry.trainer:
        raise ModelError(
            f"kind {request.kind!r} is built around another backend: train lora-transformer or "
            "tfidf with a hierarchy (`triage train --sub-label-col` or `--hierarchy FILE`)"
        )
    if request.data.heads and request.kind != "lora-transformer":
        raise ModelError(
            f"extra heads {sorted(request.data.heads)} are trained by the lora-transformer "
            f"backend; this run asks for kind {request.kind!r}: drop the head columns or "
            "train kind lora-transformer"
        )
    child = request.hierarchy.child_head if request.hierarchy is not None else None
    if child is not None and child in request.data.heads:
        raise ModelError(
            f"head {child!r} is both the hierarchy's child and an extra head: give the extra "
            "head another column"
        )
    trainer: Trainer = resolve(entry.trainer)()
    prepared = prepare(request)
    needs_validation = entry.needs_validation or bool(request.unlabelled)
    parts = split_parts(prepared, request.config, needs_validation)
    fitted = fit(trainer, parts, request)
    calibrate(trainer, fitted)
    novelty(trainer, fitted, request.config)
    fitted = pseudo_label(trainer, fitted, parts, request)
    result = evaluate_step(fitted, parts, prepared, request, entry.with_baseline)
    if request.hierarchy is not None:
        synonyms = request.health.synonyms if request.health is not None else {}
        result = as_hierarchy(result, request.hierarchy.normalised(synonyms), request.pack)
    gate(result)
    return result


def run(request: TrainRequest, out: Path) -> TrainResult:
    """Train and save to ``out`` (atomically); the gate verdict is in the result."""
    result = train(request)
    result.save(out)
    return result

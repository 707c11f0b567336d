"""Fitting the LoRA transformer: the ``lora-transformer`` backend's steps of the pipeline.

:class:`TransformerTrainer` gives :mod:`models.pipeline` its fit (seeded, imbalance handling,
AdamW with linear warm-up and decay, early stopping on validation macro-F1), calibrate (the
temperature, on the validation part it held out) and novelty (the detector, fitted on training
embeddings and calibrated on validation ones) steps. :func:`models.loop.run_epochs` is the one
training loop. Nothing here reads settings or the environment.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from models.artifact import hash_texts, new_version
from models.bands import Thresholds
from models.calibration import expected_calibration_error, fit_temperature, nll, softmax
from models.data import HeadValue, LabelledData
from models.exceptions import DataError
from models.heads import HeadSpec, Layout
from models.loop import Loop, run_epochs
from models.novelty import fit_detector
from models.result import BASELINE_DIR, TrainResult
from models.train_config import (
    FitContext,
    Fitted,
    Imbalance,
    Split,
    TrainConfig,
    TrainingRecord,
    split,
)
from models.transformer import TransformerClassifier

__all__ = [
    "BASELINE_DIR",
    "NOVELTY_FIT_ROWS",
    "TrainConfig",
    "TrainResult",
    "TransformerTrainer",
    "class_weights",
    "epoch_order",
    "fit",
    "run_epochs",
    "split",
]

#: Training rows kept as the novelty detector's neighbours (float32, 1.5 KB each at d=384).
NOVELTY_FIT_ROWS = 4000


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def class_weights(targets: Sequence[int], n_classes: int) -> torch.Tensor:
    """Square-root inverse frequency, mean 1: rare classes count more without the full inverse
    weighting's loss of precision on the big ones."""
    counts = np.bincount(np.asarray(targets), minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
    weights *= n_classes / weights.sum()
    return torch.tensor(weights, dtype=torch.float32)


def epoch_order(
    targets: np.ndarray[Any, Any], imbalance: Imbalance, generator: torch.Generator
) -> torch.Tensor:
    """Row order for one epoch; ``oversample`` draws rows with probability 1/count(class)."""
    n = len(targets)
    if imbalance != "oversample":
        return torch.randperm(n, generator=generator)
    counts = np.bincount(targets)
    probs = torch.tensor(1.0 / counts[targets], dtype=torch.float64)
    return torch.multinomial(probs, n, replacement=True, generator=generator)


def novelty_rows(n: int, limit: int, seed: int) -> list[int]:
    """The training rows the novelty detector keeps: all, or a seeded sample of ``limit``."""
    if n <= limit:
        return list(range(n))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=limit, replace=False).tolist())


@dataclass
class Encoded:
    """A fine-tune's rows as token ids and class indices, kept between the pipeline's steps."""

    train_ids: list[list[int]]
    train_y: np.ndarray[Any, Any]
    val_ids: list[list[int]]
    val_y: np.ndarray[Any, Any]
    started: float
    data: LabelledData
    #: each extra head's training targets (HeadSpec.targets) and validation labels
    train_heads: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    val_heads: dict[str, list[HeadValue]] = field(default_factory=dict)


def _check(data: LabelledData, val: LabelledData | None) -> list[str]:
    if val is None or len(val) == 0:
        raise DataError(
            "training needs validation rows for early stopping and calibration; pass --val or "
            "use a larger export"
        )
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        raise DataError(f"need at least 2 classes in the training part, got {labels}")
    unknown = sorted(set(val.labels) - set(labels))
    if unknown:
        raise DataError(
            f"validation labels {unknown} never occur in the training data; add training rows "
            "for them or drop them from the validation file"
        )
    return labels


def _scheduler(
    optimizer: torch.optim.Optimizer, total: int, warmup: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            (step + 1) / max(1, warmup)
            if step < warmup
            else max(0.0, (total - step) / max(1, total - warmup))
        ),
    )


class TransformerTrainer:
    """The ``lora-transformer`` backend's fit, calibrate and novelty steps."""

    def fit(self, parts: Split, config: TrainConfig, context: FitContext) -> Fitted:
        data, val = parts.train, parts.val
        labels = _check(data, val)
        started = time.perf_counter()
        generator = seed_everything(config.seed)
        classifier = TransformerClassifier.new(
            labels,
            base_model=context.base_model,
            max_length=config.max_length,
            truncation=config.truncation,
            lora_r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            device=config.device,
            layout=Layout.of(labels, data, config.head_weights),
        )
        if context.thresholds is not None:
            classifier.thresholds = context.thresholds
        index = {label: i for i, label in enumerate(labels)}
        encoded = Encoded(
            train_ids=classifier.encode(data.texts),
            train_y=np.array([index[label] for label in data.labels], dtype=np.int64),
            val_ids=classifier.encode(val.texts),
            val_y=np.array([index[label] for label in val.labels], dtype=np.int64),
            started=started,
            data=data,
        )
        for spec in classifier.layout.extra:
            encoded.train_heads[spec.name] = spec.targets(data.heads[spec.name].values)
            given = val.heads.get(spec.name)
            encoded.val_heads[spec.name] = given.values if given else [None] * len(val)
        record = TrainingRecord(
            config=asdict(config),
            base_model=context.base_model,
            labels=labels,
            rows={"train": len(data), "val": len(val)},
        )
        loop = self._loop(classifier, encoded, config, generator, context.progress)
        record.history, record.best_epoch = run_epochs(loop)
        return Fitted(classifier=classifier, record=record, state=encoded)

    def _loop(
        self,
        classifier: TransformerClassifier,
        encoded: Encoded,
        config: TrainConfig,
        generator: torch.Generator,
        progress: bool,
    ) -> Loop:
        params = [p for p in classifier.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        total = math.ceil(len(encoded.train_ids) / config.batch_size) * config.epochs
        weight = (
            class_weights(encoded.train_y.tolist(), len(classifier.labels)).to(classifier.device)
            if config.imbalance == "weighted"
            else None
        )
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        layout, primary_weight = classifier.layout, config.head_weights.get("label", 1.0)
        head_weights = task_weights(layout, encoded, config.imbalance, classifier.device)

        def loss(rows: list[int], logits: torch.Tensor) -> torch.Tensor:
            targets = torch.tensor(encoded.train_y[rows], device=classifier.device)
            out: torch.Tensor = loss_fn(logits[:, : layout.primary_width], targets)
            if not layout.extra:
                return out
            out = primary_weight * out
            for spec in layout.extra:
                target = encoded.train_heads[spec.name][rows]
                extra = head_loss(spec, logits, target, head_weights.get(spec.name))
                out = out + spec.weight * extra
            return out

        def validate() -> dict[str, float]:
            val_pred = layout.primary(classifier.forward_ids(encoded.val_ids)[0]).argmax(axis=1)
            return {
                "val_macro_f1": float(
                    f1_score(encoded.val_y, val_pred, average="macro", zero_division=0)
                ),
                "val_accuracy": float(accuracy_score(encoded.val_y, val_pred)),
            }

        return Loop(
            classifier=classifier,
            train_ids=encoded.train_ids,
            loss=loss,
            order=lambda: epoch_order(encoded.train_y, config.imbalance, generator).tolist(),
            validate=validate,
            optimizer=optimizer,
            scheduler=_scheduler(optimizer, total, int(total * config.warmup_ratio)),
            params=params,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            progress=progress,
        )

    def calibrate(self, fitted: Fitted) -> None:
        """The temperature, on the held-out validation part, never the rows it memorised."""
        classifier, encoded, record = fitted.classifier, fitted.state, fitted.record
        full, _ = classifier.forward_ids(encoded.val_ids)
        val_logits = classifier.layout.primary(full)
        temperature = calibrate_temperature(classifier, val_logits, encoded.val_y)
        before, after = softmax(val_logits), softmax(val_logits, temperature)
        record.temperature = temperature
        record.calibration = {
            "val_ece_before": expected_calibration_error(before, encoded.val_y),
            "val_ece_after": expected_calibration_error(after, encoded.val_y),
            "val_nll_before": nll(val_logits, encoded.val_y),
            "val_nll_after": nll(val_logits, encoded.val_y, temperature),
        }
        if classifier.layout.extra:
            record.head_calibration = calibrate_heads(classifier.layout, full, encoded.val_heads)

    def novelty(self, fitted: Fitted, config: TrainConfig) -> None:
        classifier, encoded = fitted.classifier, fitted.state
        rows = novelty_rows(len(encoded.train_y), NOVELTY_FIT_ROWS, config.seed)
        fit_novelty(classifier, encoded.train_ids, rows, encoded.val_ids, config.novelty_quantile)
        fitted.record.novelty_threshold = classifier.novelty.threshold
        classifier.version = new_version(hash_texts(encoded.data.texts, encoded.data.labels))
        fitted.record.seconds = time.perf_counter() - encoded.started


def task_weights(
    layout: Layout, encoded: Encoded, imbalance: Imbalance, device: torch.device
) -> dict[str, torch.Tensor]:
    """Class weights per task head under ``weighted``: its rare labels count more, as the
    primary head's do."""
    out: dict[str, torch.Tensor] = {}
    for spec in layout.extra:
        target = encoded.train_heads[spec.name]
        known = target[spec.known(target)]
        if imbalance == "weighted" and not spec.multilabel and len(known):
            out[spec.name] = class_weights(known.astype(np.int64).tolist(), spec.width).to(device)
    return out


def head_loss(
    spec: HeadSpec,
    logits: torch.Tensor,
    target: np.ndarray[Any, Any],
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """One extra head's loss on a batch: cross-entropy (task head; ``weight`` per class) or
    binary cross-entropy per label (multi-label head), over the rows whose label for it is
    known (else 0)."""
    part = logits[:, spec.offset : spec.offset + spec.width]
    functional = torch.nn.functional
    known = spec.known(target)
    if not known.any():
        return part.sum() * 0.0
    rows = part[torch.from_numpy(known).to(part.device)]
    if not spec.multilabel:
        index = torch.tensor(target[known].astype(np.int64), device=part.device)
        return functional.cross_entropy(rows, index, weight=weight)
    hot = torch.tensor(target[known], dtype=part.dtype, device=part.device)
    # summed over the labels, averaged over tickets: each label then pulls as hard as a task
    # head's one answer does (a mean over every cell would shrink the head's gradient by its
    # width: 7 team labels trained at a seventh of the primary head's pull, and lagged it)
    return functional.binary_cross_entropy_with_logits(rows, hot, reduction="sum") / len(hot)


def calibrate_heads(
    layout: Layout, full: np.ndarray[Any, Any], values: dict[str, list[HeadValue]]
) -> dict[str, dict[str, float]]:
    """Each extra head calibrated on validation, with its ECE before and after (a multi-label
    head's over every (ticket, label) decision)."""
    out = {}
    for spec in layout.extra:
        target = spec.targets(values[spec.name])
        known = spec.known(target)
        before = spec.proba(full)[known]
        spec.calibrate(full, values[spec.name])
        out[spec.name] = {
            "val_ece_before": head_ece(spec, before, target[known]),
            "val_ece_after": head_ece(spec, spec.proba(full)[known], target[known]),
        }
    return out


def head_ece(spec: HeadSpec, proba: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> float:
    """ECE of one head's probabilities against its targets (rows with a known label)."""
    if not len(target):
        return 0.0
    if not spec.multilabel:
        return expected_calibration_error(proba, target.astype(np.int64))
    p = proba.reshape(-1)
    binary = np.stack([1 - p, p], axis=1)
    return expected_calibration_error(binary, target.reshape(-1).astype(np.int64))


def calibrate_temperature(
    classifier: TransformerClassifier, val_logits: np.ndarray[Any, Any], val_y: np.ndarray[Any, Any]
) -> float:
    """Fit and set the temperature on the validation rows whose label the model knows."""
    known = val_y >= 0
    classifier.temperature = fit_temperature(val_logits[known], val_y[known])
    return classifier.temperature


def fit_novelty(
    classifier: TransformerClassifier,
    train_ids: Sequence[Sequence[int]],
    rows: list[int],
    val_ids: Sequence[Sequence[int]],
    quantile: float,
) -> None:
    """The detector: training embeddings (``rows``) as neighbours, validation ones set its
    threshold."""
    train_full, train_embeddings = classifier.forward_ids([train_ids[i] for i in rows])
    train_logits = classifier.layout.primary(train_full)
    _, val_embeddings = classifier.forward_ids(val_ids)
    # the model's own classes: distillation's student has no gold targets here
    detector = fit_detector(train_embeddings, train_logits.argmax(axis=1))
    classifier.novelty = detector.calibrate(val_embeddings, quantile)


def fit(
    data: LabelledData,
    config: TrainConfig,
    *,
    base_model: str,
    val: LabelledData | None = None,
    thresholds: Thresholds | None = None,
    progress: bool = True,
) -> tuple[TransformerClassifier, TrainingRecord]:
    """Fine-tune on ``data`` (the train part), early-stop and calibrate on ``val``: the
    pipeline's fit, calibrate and novelty steps without the split, evaluation or save."""
    trainer = TransformerTrainer()
    parts = Split(train=data, val=val or LabelledData([], [], data.source), test=data)
    fitted = trainer.fit(parts, config, FitContext(base_model, thresholds, progress))
    trainer.calibrate(fitted)
    trainer.novelty(fitted, config)
    return fitted.classifier, fitted.record

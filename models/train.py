"""Training: a labelled export in, a calibrated, gated, novelty-aware classifier out.

:func:`fit` does the optimisation (seeded split, imbalance handling, AdamW with linear warm-up and
decay, early stopping on validation macro-F1), then fits the temperature and the novelty detector
on the validation split it held out. :func:`train` adds what makes the result shippable: held-out
evaluation, the TF-IDF baseline on the same split and the eval gates. The CLI and the learner both
call :func:`train`; nothing here reads settings or the environment.
"""

from __future__ import annotations

import math
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from tqdm.auto import tqdm

from models.artifact import hash_texts, new_version
from models.bands import Thresholds
from models.calibration import expected_calibration_error, fit_temperature, nll, softmax
from models.data import LabelledData
from models.evaluate import Evaluation, evaluate
from models.exceptions import DataError, ModelError
from models.gates import EvalPack
from models.novelty import DEFAULT_QUANTILE, KnnNovelty
from models.tfidf import TfidfClassifier
from models.transformer import TransformerClassifier, Truncation

Imbalance = Literal["weighted", "oversample", "none"]
BASELINE_DIR = "baseline"
#: Training rows kept as the novelty detector's neighbours (float32, 1.5 KB each at d=384).
NOVELTY_FIT_ROWS = 4000


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. Defaults are the measured good start (LoRA r=16, lr 2e-3, 64 tokens)."""

    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 16
    max_length: int = 64
    truncation: Truncation = "head"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    seed: int = 13
    imbalance: Imbalance = "weighted"
    patience: int = 2
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    novelty_quantile: float = DEFAULT_QUANTILE
    device: str = "auto"

    def __post_init__(self) -> None:
        positive_ints = ("epochs", "batch_size", "lora_r", "lora_alpha", "patience")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ModelError(f"TrainConfig.{name}={value!r} is invalid: need an integer >= 1")
        if not 8 <= self.max_length <= 8192:
            raise ModelError(f"TrainConfig.max_length={self.max_length} is invalid: use 8..8192")
        if not 0 < self.lr < 1:
            raise ModelError(f"TrainConfig.lr={self.lr} is invalid: need 0 < lr < 1 (2e-3)")
        for name in ("lora_dropout", "weight_decay", "warmup_ratio"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ModelError(f"TrainConfig.{name}={value} is invalid: need 0 <= value < 1")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 0.5:
                raise ModelError(f"TrainConfig.{name}={value} is invalid: need 0 <= value < 0.5")
        if self.imbalance not in ("weighted", "oversample", "none"):
            raise ModelError(
                f"TrainConfig.imbalance={self.imbalance!r} is invalid: use weighted, oversample "
                "or none"
            )
        if self.truncation not in ("head", "head_tail"):
            raise ModelError(
                f"TrainConfig.truncation={self.truncation!r} is invalid: use head or head_tail"
            )
        if not 0.5 <= self.novelty_quantile < 1:
            raise ModelError(
                f"TrainConfig.novelty_quantile={self.novelty_quantile} is invalid: use 0.5..0.999"
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ModelError(f"TrainConfig.device={self.device!r} is invalid: use auto, cpu, cuda")


@dataclass(frozen=True)
class Split:
    train: LabelledData
    val: LabelledData
    test: LabelledData


def split(data: LabelledData, val_fraction: float, test_fraction: float, seed: int) -> Split:
    """Stratified, seeded: every class keeps its share in each part and at least one train row.

    A class too small to spare rows (fewer than 3) stays entirely in train; the gates then only
    judge it if an explicit test file has it.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in sorted(by_class):
        rows = np.array(by_class[label])
        rng.shuffle(rows)
        n = len(rows)
        n_val = round(n * val_fraction) if n >= 3 else 0
        n_test = round(n * test_fraction) if n >= 3 else 0
        n_val = max(n_val, 1 if val_fraction > 0 and n >= 3 else 0)
        n_test = max(n_test, 1 if test_fraction > 0 and n >= 3 else 0)
        parts["val"] += rows[:n_val].tolist()
        parts["test"] += rows[n_val : n_val + n_test].tolist()
        parts["train"] += rows[n_val + n_test :].tolist()

    def subset(name: str) -> LabelledData:
        rows = sorted(parts[name])
        return LabelledData(
            texts=[data.texts[i] for i in rows],
            labels=[data.labels[i] for i in rows],
            source=data.source,
        )

    return Split(train=subset("train"), val=subset("val"), test=subset("test"))


@dataclass
class TrainingRecord:
    """What happened during :func:`fit`, kept in the manifest next to the weights."""

    config: dict[str, Any]
    base_model: str
    labels: list[str]
    rows: dict[str, int]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    temperature: float = 1.0
    calibration: dict[str, float] = field(default_factory=dict)
    novelty_threshold: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def fit(
    data: LabelledData,
    config: TrainConfig,
    *,
    base_model: str,
    val: LabelledData | None = None,
    thresholds: Thresholds | None = None,
    progress: bool = True,
) -> tuple[TransformerClassifier, TrainingRecord]:
    """Fine-tune on ``data`` (the train part), early-stop and calibrate on ``val``."""
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
    started = time.perf_counter()
    generator = seed_everything(config.seed)
    classifier = TransformerClassifier.new(
        labels,
        base_model=base_model,
        max_length=config.max_length,
        truncation=config.truncation,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        device=config.device,
    )
    if thresholds is not None:
        classifier.thresholds = thresholds
    index = {label: i for i, label in enumerate(labels)}
    train_ids = classifier.encode(data.texts)
    train_y = np.array([index[label] for label in data.labels], dtype=np.int64)
    val_ids = classifier.encode(val.texts)
    val_y = np.array([index[label] for label in val.labels], dtype=np.int64)

    model = classifier.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = int(total * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            (step + 1) / max(1, warmup)
            if step < warmup
            else max(0.0, (total - step) / max(1, total - warmup))
        ),
    )
    weight = (
        class_weights(train_y.tolist(), len(labels)).to(classifier.device)
        if config.imbalance == "weighted"
        else None
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    record = TrainingRecord(
        config=asdict(config),
        base_model=base_model,
        labels=labels,
        rows={"train": len(data), "val": len(val)},
    )
    best_f1, best_state, stale = -1.0, _trainable_state(model), 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_started = time.perf_counter()
        order = epoch_order(train_y, config.imbalance, generator).tolist()
        losses = []
        bar = tqdm(
            range(0, len(order), config.batch_size),
            desc=f"epoch {epoch}/{config.epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        for start in bar:
            rows = order[start : start + config.batch_size]
            batch = classifier.collate([train_ids[i] for i in rows])
            targets = torch.tensor(train_y[rows], device=classifier.device)
            logits = model(**batch).logits
            loss = loss_fn(logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        val_logits, _ = classifier.forward_ids(val_ids)
        val_pred = val_logits.argmax(axis=1)
        val_f1 = float(f1_score(val_y, val_pred, average="macro", zero_division=0))
        record.history.append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_macro_f1": val_f1,
                "val_accuracy": float(accuracy_score(val_y, val_pred)),
                "seconds": time.perf_counter() - epoch_started,
            }
        )
        if progress:
            tqdm.write(f"epoch {epoch}: loss {np.mean(losses):.4f}, val macro-F1 {val_f1:.4f}")
        if val_f1 > best_f1:
            best_f1, best_state, stale = val_f1, _trainable_state(model), 0
            record.best_epoch = epoch
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state, strict=False)
    model.eval()

    # Calibration and novelty both use the held-out validation part, never the training rows
    # the model has memorised.
    val_logits, val_embeddings = classifier.forward_ids(val_ids)
    temperature = fit_temperature(val_logits, val_y)
    before, after = softmax(val_logits), softmax(val_logits, temperature)
    record.temperature = temperature
    record.calibration = {
        "val_ece_before": expected_calibration_error(before, val_y),
        "val_ece_after": expected_calibration_error(after, val_y),
        "val_nll_before": nll(val_logits, val_y),
        "val_nll_after": nll(val_logits, val_y, temperature),
    }
    classifier.temperature = temperature
    fit_rows = _novelty_rows(train_y, NOVELTY_FIT_ROWS, config.seed)
    _, train_embeddings = classifier.forward_ids([train_ids[i] for i in fit_rows])
    classifier.novelty = KnnNovelty.fit(train_embeddings).calibrate(
        val_embeddings, config.novelty_quantile
    )
    record.novelty_threshold = classifier.novelty.threshold
    classifier.version = new_version(hash_texts(data.texts, data.labels))
    record.seconds = time.perf_counter() - started
    return classifier, record


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def _novelty_rows(targets: np.ndarray[Any, Any], limit: int, seed: int) -> list[int]:
    n = len(targets)
    if n <= limit:
        return list(range(n))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=limit, replace=False).tolist())


@dataclass
class TrainResult:
    """A trained model with everything needed to decide whether it may ship."""

    classifier: TransformerClassifier
    record: TrainingRecord
    evaluation: Evaluation
    baseline: TfidfClassifier
    split: Split
    data_hash: str

    @property
    def passed(self) -> bool:
        return self.evaluation.gates.passed

    def save(self, out: Path, *, health: dict[str, Any] | None = None) -> Path:
        """Write the artifact atomically: a sibling temp dir renamed into place at the end.

        A crash or a full disk mid-save leaves no half model at ``out``.
        """
        from models.report import write_reports

        out = Path(out)
        if out.exists() and any(out.iterdir()):
            raise ModelError(f"{out} already exists and is not empty; choose a new --out directory")
        staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.baseline.save(staging / BASELINE_DIR)
            write_reports(staging / "report", self.evaluation)
            self.classifier.save(
                staging,
                data={
                    "hash": self.data_hash,
                    "source": self.split.train.source,
                    "rows": {
                        "train": len(self.split.train),
                        "val": len(self.split.val),
                        "test": len(self.split.test),
                    },
                    "class_counts": dict(Counter(self.split.train.labels)),
                    "health": health or {},
                },
                metrics={
                    **self.evaluation.metrics_for_manifest(),
                    "training": self.record.to_dict(),
                },
                gates={"passed": self.passed, **self.evaluation.gates.to_dict()},
            )
            if out.exists():
                out.rmdir()
            staging.replace(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return out


def train(
    data: LabelledData,
    config: TrainConfig,
    *,
    base_model: str,
    pack: EvalPack,
    val: LabelledData | None = None,
    test: LabelledData | None = None,
    thresholds: Thresholds | None = None,
    progress: bool = True,
) -> TrainResult:
    """Split (unless val/test are given), fit, then evaluate against the baseline and gates."""
    parts = split(
        data,
        0.0 if val is not None else config.val_fraction,
        0.0 if test is not None else config.test_fraction,
        config.seed,
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
                "(models.health.normalise_label, as `triage train` does)"
            )
    classifier, record = fit(
        parts.train,
        config,
        base_model=base_model,
        val=parts.val,
        thresholds=thresholds,
        progress=progress,
    )
    record.rows["test"] = len(parts.test)
    baseline = TfidfClassifier().fit(parts.train.texts, parts.train.labels)
    evaluation = evaluate(
        classifier, parts.test.texts, parts.test.labels, pack=pack, baseline=baseline
    )
    return TrainResult(
        classifier=classifier,
        record=record,
        evaluation=evaluation,
        baseline=baseline,
        split=parts,
        data_hash=hash_texts(data.texts, data.labels),
    )

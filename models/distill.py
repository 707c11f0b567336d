"""A smaller student for serving: fewer layers of the same encoder, taught by the trained model.

ONNX int8 alone leaves MiniLM-L6 at about 25 ms per 128-token ticket on this CPU; the remaining
factor has to come from fewer FLOPs. The student keeps every ``k``-th layer of the fine-tuned
(merged) teacher, so it starts from weights that already solve the task, and is trained on the
teacher's softened outputs (KL at temperature ``T``, Hinton et al. 2015) plus the gold labels.

It is shipped only when its test macro-F1 is within :data:`MAX_F1_DROP` of the teacher's; either
way the result is recorded in the teacher's manifest (``backend.runtime.student``). A shipped
student becomes the artifact's ONNX engine (its own temperature and novelty detector, fitted on
its own embeddings), so the artifact stays one directory with one loader.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.nn import functional as F

from models.artifact import read_manifest, write_manifest
from models.data import LabelledData
from models.evaluate import macro_f1
from models.exceptions import DataError, ModelError
from models.loop import Loop, run_epochs
from models.novelty import DEFAULT_QUANTILE
from models.train import calibrate_temperature, fit_novelty
from models.transformer import TransformerClassifier

#: The student ships only within this macro-F1 of the teacher on the test split (issue #6).
MAX_F1_DROP = 0.005
STUDENT_DIR = "student"
NOVELTY_FIT_ROWS = 4000


@dataclass(frozen=True)
class DistillConfig:
    layers: int = 3
    epochs: int = 3
    lr: float = 1e-4
    head_lr: float = 1e-3
    batch_size: int = 32
    temperature: float = 2.0
    alpha: float = 0.7  # weight of the teacher's soft targets; 1 - alpha on the gold labels
    seed: int = 13
    freeze_embeddings: bool = True  # 12 of MiniLM's 22.7 M weights; the task is not in them

    def __post_init__(self) -> None:
        if self.layers < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ModelError(f"DistillConfig {self} is invalid: layers, epochs, batch >= 1")
        if not 0 <= self.alpha <= 1 or self.temperature <= 0:
            raise ModelError(f"DistillConfig {self} is invalid: 0 <= alpha <= 1, temperature > 0")


def keep_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layer indices, always including the last (it feeds the head)."""
    if not 1 <= keep <= total:
        raise ModelError(f"cannot keep {keep} of {total} layers: choose 1..{total}")
    step = total / keep
    return sorted({min(total - 1, math.ceil((i + 1) * step) - 1) for i in range(keep)})


def shrink(model: nn.Module, keep: Sequence[int]) -> nn.Module:
    """A deep copy of a BERT-style classifier keeping only encoder layers ``keep``."""
    student = copy.deepcopy(model)
    encoder = _encoder(student)
    layers = encoder.layer
    encoder.layer = nn.ModuleList([layers[i] for i in keep])
    cast(Any, student).config.num_hidden_layers = len(keep)
    return student


def _encoder(model: nn.Module) -> Any:
    for module in model.modules():
        if hasattr(module, "layer") and isinstance(module.layer, nn.ModuleList):
            return module
    raise ModelError("the model has no encoder.layer list: distillation supports BERT-style models")


@dataclass
class DistillResult:
    student: TransformerClassifier
    layers: list[int]
    teacher_macro_f1: float
    student_macro_f1: float
    seconds: float
    history: list[dict[str, float]]

    @property
    def shipped(self) -> bool:
        return self.student_macro_f1 >= self.teacher_macro_f1 - MAX_F1_DROP

    def record(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "teacher_macro_f1": self.teacher_macro_f1,
            "student_macro_f1": self.student_macro_f1,
            "macro_f1_delta": self.student_macro_f1 - self.teacher_macro_f1,
            "max_f1_drop": MAX_F1_DROP,
            "shipped": self.shipped,
            "seconds": round(self.seconds, 1),
            "history": self.history,
        }


def distill(
    teacher: TransformerClassifier,
    train: LabelledData,
    val: LabelledData,
    test: LabelledData,
    config: DistillConfig,
    *,
    progress: bool = False,
) -> DistillResult:
    """Train the student; calibrate it and fit its novelty detector on ``val``; score ``test``.

    The training loop, the temperature and the novelty detector are the fine-tune's own
    (:mod:`models.loop`, :mod:`models.train`): only the loss (soft targets + gold labels), the
    batch order and the optimiser's groups are distillation's."""
    _check_parts(teacher, train, val, test)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    index = {label: i for i, label in enumerate(teacher.labels)}
    train_ids = teacher.encode(train.texts)
    targets = Targets(
        gold=torch.tensor([index[y] for y in train.labels]),
        soft=torch.tensor(teacher.forward_ids(train_ids)[0], dtype=torch.float32),
    )
    kept = keep_layers(int(teacher.model_config.num_hidden_layers), config.layers)
    student = _student(teacher, kept, config)
    val_ids = student.encode(val.texts)
    val_y = np.array([index.get(y, -1) for y in val.labels])
    loop = _loop(student, train_ids, targets, (val_ids, val_y), rng, config, progress)
    history, _ = run_epochs(loop)

    calibrate_temperature(student, student.forward_ids(val_ids)[0], val_y)
    fit_rows = rng.choice(len(train_ids), size=min(NOVELTY_FIT_ROWS, len(train_ids)), replace=False)
    quantile = float(getattr(teacher.novelty, "quantile", DEFAULT_QUANTILE))
    fit_novelty(student, train_ids, sorted(fit_rows.tolist()), val_ids, quantile)
    return DistillResult(
        student=student,
        layers=kept,
        teacher_macro_f1=_macro_f1(teacher, test),
        student_macro_f1=_macro_f1(student, test),
        seconds=time.perf_counter() - started,
        history=history,
    )


@dataclass(frozen=True)
class Targets:
    """Per training row: the gold class index and the teacher's logits."""

    gold: torch.Tensor
    soft: torch.Tensor


def _check_parts(
    teacher: TransformerClassifier, train: LabelledData, val: LabelledData, test: LabelledData
) -> None:
    for name, part in (("train", train), ("val", val), ("test", test)):
        if len(part) == 0:
            raise DataError(f"distillation needs {name} rows; pass a non-empty {name} file")
    unknown = sorted(set(train.labels) - set(teacher.labels))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not the teacher's classes {teacher.labels}")


def _student(
    teacher: TransformerClassifier, kept: list[int], config: DistillConfig
) -> TransformerClassifier:
    """The teacher with only layers ``kept``, its embeddings frozen when the config says so."""
    model = shrink(teacher.model, kept)
    student = TransformerClassifier(
        model=model,
        tokenizer=teacher.tokenizer,
        labels=teacher.labels,
        base_model=teacher.base_model,
        max_length=teacher.max_length,
        truncation=teacher.truncation,
        device=teacher.device,
        thresholds=teacher.thresholds,
        version=teacher.version,
        redact=teacher.redact,
        pooling=teacher.pooling,
    )
    for name, param in model.named_parameters():
        param.requires_grad = not (config.freeze_embeddings and ".embeddings." in f".{name}")
    return student


def _loop(
    student: TransformerClassifier,
    train_ids: list[list[int]],
    targets: Targets,
    validation: tuple[list[list[int]], np.ndarray[Any, Any]],
    rng: np.random.Generator,
    config: DistillConfig,
    progress: bool,
) -> Loop:
    """Distillation's loss (KL on softened logits at ``T``, plus cross-entropy on the gold
    labels), a plain shuffle per epoch, and the head learning faster than the encoder."""
    model, t = student.model, config.temperature
    val_ids, val_y = validation

    def loss(rows: list[int], logits: torch.Tensor) -> torch.Tensor:
        kd = F.kl_div(
            F.log_softmax(logits / t, dim=-1),
            F.softmax(targets.soft[rows].to(logits.device) / t, dim=-1),
            reduction="batchmean",
        ) * (t * t)
        ce = F.cross_entropy(logits, targets.gold[rows].to(logits.device))
        return config.alpha * kd + (1 - config.alpha) * ce

    def validate() -> dict[str, float]:
        predicted = student.forward_ids(val_ids)[0].argmax(axis=1)
        return {"val_macro_f1": float(f1_score(val_y, predicted, average="macro", zero_division=0))}

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    in_head = [any(h in n for h in ("classifier", "pooler")) for n, _ in trainable]
    pairs = list(zip(trainable, in_head, strict=True))
    groups = [
        {"params": [p for (_, p), head in pairs if not head], "lr": config.lr},
        {"params": [p for (_, p), head in pairs if head], "lr": config.head_lr},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = math.ceil(len(train_ids) / config.batch_size) * config.epochs
    return Loop(
        classifier=student,
        train_ids=train_ids,
        loss=loss,
        order=lambda: rng.permutation(len(train_ids)).tolist(),
        validate=validate,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps)),
        params=[p for _, p in trainable],
        epochs=config.epochs,
        batch_size=config.batch_size,
        progress=progress,
        name="distill epoch",
    )


def _macro_f1(model: TransformerClassifier, data: LabelledData) -> float:
    return macro_f1(model, data.labels, model.predict_proba(data.texts))


def ship(
    model_dir: Path,
    result: DistillResult,
    val_texts: Sequence[str],
    *,
    int8: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Record the student in the teacher's manifest; when it passed the F1 bound, export it to
    ONNX (validated against the torch student on ``val_texts``) and make it the ONNX engine.

    A student that missed the bound is recorded (with its figures) and never served.
    """
    from models import onnx

    model_dir = Path(model_dir)
    record = result.record()
    if result.shipped:
        folder = model_dir / onnx.ONNX_DIR / STUDENT_DIR
        shutil.rmtree(folder, ignore_errors=True)
        options = onnx.ExportOptions(int8=int8, threads=threads)
        engine_record = onnx.export_validated(result.student, folder, val_texts, None, options)
        novelty = (
            result.student.novelty.save(folder / "novelty")
            if result.student.novelty is not None
            else None
        )
        engine_record.update(
            file=f"{onnx.ONNX_DIR}/{STUDENT_DIR}/{engine_record['file']}",
            source=f"student-{len(result.layers)}-layers",
            temperature=result.student.temperature,
            novelty=(
                {**novelty, "path": f"{onnx.ONNX_DIR}/{STUDENT_DIR}/novelty"} if novelty else None
            ),
            student_macro_f1=result.student_macro_f1,
            teacher_macro_f1=result.teacher_macro_f1,
        )
        record["engine"] = engine_record["file"]
        record["onnx_validated"] = engine_record["validated"]
    manifest = read_manifest(model_dir)
    runtime = dict(manifest.backend.get("runtime", {}))
    runtime["student"] = record
    if result.shipped and engine_record["validated"]:
        runtime["onnx"] = engine_record
    manifest.backend = {**manifest.backend, "runtime": runtime}
    write_manifest(model_dir, manifest)
    return record


def distill_dir(
    model_dir: Path,
    data: LabelledData,
    config: DistillConfig,
    *,
    test: LabelledData | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Distil the transformer in ``model_dir`` on ``data`` (seeded split into train/val, and
    test unless given), gate it, and record (and, when it passes, ship) it in place."""
    from models.artifact import load
    from models.train import split

    teacher = load(model_dir, "cpu", runtime="torch")
    if not isinstance(teacher, TransformerClassifier):
        raise ModelError(f"{model_dir} is not a transformer model: nothing to distil")
    if teacher.layout.extra:
        raise ModelError(
            f"{model_dir} has extra heads {[h.name for h in teacher.layout.extra]}; distilling "
            "them is not supported yet: serve it with its ONNX export (`triage bench --export`)"
        )
    known = set(teacher.labels)
    keep = [i for i, label in enumerate(data.labels) if label in known]
    data = data.take(keep)
    parts = split(data, 0.1, 0.0 if test is not None else 0.1, config.seed)
    result = distill(teacher, parts.train, parts.val, test or parts.test, config, progress=progress)
    return ship(model_dir, result, parts.val.texts)

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
from models.calibration import fit_temperature
from models.data import LabelledData
from models.exceptions import DataError, ModelError
from models.novelty import DEFAULT_QUANTILE, KnnNovelty
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
    """Train the student; calibrate it and fit its novelty detector on ``val``; score ``test``."""
    for name, part in (("train", train), ("val", val), ("test", test)):
        if len(part) == 0:
            raise DataError(f"distillation needs {name} rows; pass a non-empty {name} file")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    index = {label: i for i, label in enumerate(teacher.labels)}
    unknown = sorted({y for y in train.labels if y not in index})
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not the teacher's classes {teacher.labels}")

    train_ids = teacher.encode(train.texts)
    train_y = torch.tensor([index[y] for y in train.labels])
    teacher_logits, _ = teacher.forward_ids(train_ids)
    soft = torch.tensor(teacher_logits, dtype=torch.float32)

    total = int(teacher._config().num_hidden_layers)
    kept = keep_layers(total, config.layers)
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
    head_names = ("classifier", "pooler")
    groups = [
        {
            "params": [
                p
                for n, p in model.named_parameters()
                if p.requires_grad and not any(h in n for h in head_names)
            ],
            "lr": config.lr,
        },
        {
            "params": [
                p
                for n, p in model.named_parameters()
                if p.requires_grad and any(h in n for h in head_names)
            ],
            "lr": config.head_lr,
        },
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = math.ceil(len(train_ids) / config.batch_size) * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    t = config.temperature
    val_y = np.array([index.get(y, -1) for y in val.labels])
    history: list[dict[str, float]] = []
    best_f1, best_state = -1.0, copy.deepcopy(model.state_dict())
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(train_ids))
        losses = []
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size].tolist()
            batch = student.collate([train_ids[i] for i in rows])
            logits = model(**batch).logits
            kd = F.kl_div(
                F.log_softmax(logits / t, dim=-1),
                F.softmax(soft[rows].to(logits.device) / t, dim=-1),
                reduction="batchmean",
            ) * (t * t)
            ce = F.cross_entropy(logits, train_y[rows].to(logits.device))
            loss = config.alpha * kd + (1 - config.alpha) * ce
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        val_logits, _ = student.forward_ids(student.encode(val.texts))
        val_f1 = float(f1_score(val_y, val_logits.argmax(axis=1), average="macro", zero_division=0))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_macro_f1": val_f1})
        if progress:
            print(f"distill epoch {epoch}: loss {np.mean(losses):.4f}, val macro-F1 {val_f1:.4f}")
        if val_f1 > best_f1:
            best_f1, best_state = val_f1, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()

    val_ids = student.encode(val.texts)
    val_logits, val_emb = student.forward_ids(val_ids)
    known = val_y >= 0
    student.temperature = fit_temperature(val_logits[known], val_y[known])
    fit_rows = rng.choice(len(train_ids), size=min(NOVELTY_FIT_ROWS, len(train_ids)), replace=False)
    _, train_emb = student.forward_ids([train_ids[i] for i in sorted(fit_rows.tolist())])
    quantile = float(getattr(teacher.novelty, "quantile", DEFAULT_QUANTILE))
    student.novelty = KnnNovelty.fit(train_emb).calibrate(val_emb, quantile)

    return DistillResult(
        student=student,
        layers=kept,
        teacher_macro_f1=_macro_f1(teacher, test),
        student_macro_f1=_macro_f1(student, test),
        seconds=time.perf_counter() - started,
        history=history,
    )


def _macro_f1(model: TransformerClassifier, data: LabelledData) -> float:
    proba = model.predict_proba(data.texts)
    predicted = [model.labels[i] for i in proba.argmax(axis=1)]
    return float(f1_score(data.labels, predicted, average="macro", zero_division=0))


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
        engine_record = onnx.export_validated(
            result.student, folder, val_texts, None, int8=int8, threads=threads
        )
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
    known = set(teacher.labels)
    keep = [i for i, label in enumerate(data.labels) if label in known]
    data = LabelledData([data.texts[i] for i in keep], [data.labels[i] for i in keep], data.source)
    parts = split(data, 0.1, 0.0 if test is not None else 0.1, config.seed)
    result = distill(teacher, parts.train, parts.val, test or parts.test, config, progress=progress)
    return ship(model_dir, result, parts.val.texts)

"""The one training loop: epochs of shuffled batches, gradient clipping, the best epoch by
validation macro-F1 kept (with optional early stopping). A fine-tune and a distillation differ
only in their loss, batch order, optimiser and validation, which :class:`Loop` carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from models.progress import progress_bar
from models.transformer import TransformerClassifier


@dataclass
class Loop:
    """What differs between a fine-tune and a distillation; :func:`run_epochs` does the rest."""

    classifier: TransformerClassifier
    train_ids: list[list[int]]
    loss: Callable[[list[int], torch.Tensor], torch.Tensor]
    order: Callable[[], list[int]]
    validate: Callable[[], dict[str, float]]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[torch.nn.Parameter]
    epochs: int
    batch_size: int
    patience: int | None = None
    progress: bool = True
    name: str = "epoch"


def run_epochs(loop: Loop) -> tuple[list[dict[str, float]], int]:
    """Train, keep the best epoch by validation macro-F1 (early stop after ``patience`` epochs
    without a gain); returns (history, best epoch) with the best weights loaded."""
    model = loop.classifier.model
    history: list[dict[str, float]] = []
    best_f1, best_state, stale, best_epoch = -1.0, _trainable_state(model), 0, 0
    for epoch in range(1, loop.epochs + 1):
        model.train()
        started = time.perf_counter()
        losses = _one_epoch(loop, epoch)
        metrics = loop.validate()
        history.append(
            {"epoch": epoch, "loss": float(np.mean(losses)), **metrics}
            | {"seconds": time.perf_counter() - started}
        )
        val_f1 = metrics["val_macro_f1"]
        if loop.progress:
            tqdm.write(
                f"{loop.name} {epoch}: loss {np.mean(losses):.4f}, val macro-F1 {val_f1:.4f}"
            )
        if val_f1 > best_f1:
            best_f1, best_state, stale, best_epoch = val_f1, _trainable_state(model), 0, epoch
        else:
            stale += 1
            if loop.patience is not None and stale >= loop.patience:
                break
    model.load_state_dict(best_state, strict=False)
    model.eval()
    return history, best_epoch


def _one_epoch(loop: Loop, epoch: int) -> list[float]:
    order = loop.order()
    losses: list[float] = []
    bar = progress_bar(
        range(0, len(order), loop.batch_size),
        desc=f"{loop.name} {epoch}/{loop.epochs}",
        unit="batch",
        disable=not loop.progress,
        leave=False,
    )
    for start in bar:
        rows = order[start : start + loop.batch_size]
        batch = loop.classifier.collate([loop.train_ids[i] for i in rows])
        loss = loop.loss(rows, loop.classifier.model(**batch).logits)
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(loop.params, 1.0)
        loop.optimizer.step()
        loop.scheduler.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    return losses


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }

"""Inference-side helpers shared by every engine (torch, ONNX Runtime): how a batch is cut.

A transformer's cost grows with the padded width of its batch, so the fastest batch is made of
texts of similar length padded only to the longest of them (dynamic padding). Sorting a request by
length and cutting it into buckets bounded both by count and by padded tokens keeps one long
complaint from inflating forty short ones, and keeps a bucket's activations small enough to stay
in cache. The engines return rows in the caller's order.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

#: ``auto``: ONNX Runtime when the artifact carries a validated export and we run on CPU, else
#: torch. ``onnx`` insists (an error when no validated export exists); ``torch`` never uses it.
Runtime = Literal["auto", "torch", "onnx"]
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnx")
IntArray = npt.NDArray[np.int64]

#: Most padded tokens in one forward pass: 32 texts of 256 tokens, or 128 texts of 64.
MAX_BATCH_TOKENS = 8192


def check_runtime(runtime: str) -> Runtime:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is unknown: use one of {', '.join(RUNTIMES)}")
    return runtime  # type: ignore[return-value]


def available_cores() -> int:
    """Cores this process may run on (cgroup/affinity aware), not the host's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def length_buckets(
    lengths: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> list[list[int]]:
    """Row indices grouped into batches of similar length.

    Rows are sorted by length; a batch closes when it holds ``batch_size`` rows or when adding the
    next (longer) row would pad the batch past ``max_tokens``. Every row appears exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} is invalid: need >= 1")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i]  # sorted: the newcomer is the widest row so far
        if current and (len(current) >= batch_size or (len(current) + 1) * width > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pad_batch(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[IntArray, IntArray]:
    """(input_ids, attention_mask) padded to the batch's longest row, as int64 arrays."""
    if not batch:
        raise ValueError("cannot pad an empty batch")
    width = max(len(seq) for seq in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def run_bucketed(
    ids: Sequence[Sequence[int]],
    forward: Any,
    batch_size: int,
    max_tokens: int = MAX_BATCH_TOKENS,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Apply ``forward(batch_of_ids) -> (logits, embedding)`` bucket by bucket; caller's order.

    ``ids`` must be non-empty.
    """
    buckets = length_buckets([len(seq) for seq in ids], batch_size, max_tokens)
    logits_parts, embedding_parts = [], []
    for rows in buckets:
        logits, embedding = forward([ids[i] for i in rows])
        logits_parts.append(np.asarray(logits, dtype=np.float64))
        embedding_parts.append(np.asarray(embedding, dtype=np.float64))
    order = np.concatenate([np.asarray(rows, dtype=np.int64) for rows in buckets])
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return np.concatenate(logits_parts)[inverse], np.concatenate(embedding_parts)[inverse]


def autocast(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """Half precision on CUDA (bf16 where the GPU supports it, else fp16); nothing on CPU.

    On CPU fp32 stays: without AVX-512 BF16 the CPU has no fast half-precision matmul, and int8
    (ONNX Runtime) is the cheaper route there.
    """
    if device_type != "cuda":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@functools.cache
def _blas_pools() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """numpy's BLAS on the calling thread only, for the small matrix products around a forward
    pass (the novelty detector's nearest-neighbour search).

    An OpenBLAS pool that was woken spin-waits after the call, and the next forward pass of ONNX
    Runtime or torch then shares the cores with it: on 2 cores that doubled a 128-token forward
    pass (about 10 ms alone, 24 ms after a 1 x 4,000 product). On one thread the product costs
    0.7-1 ms between forward passes (it reads the 6 MB bank from memory); entering the limit
    costs about 0.02 ms.
    """
    limited: contextlib.AbstractContextManager[Any] = _blas_pools().limit(limits=1, user_api="blas")
    return limited


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: Characters kept per token of budget before tokenising. Wordpieces on tickets average 4-5
#: characters; at 12 the kept text still holds about three times the budget, so the tokens
#: that survive truncation are the same, while tokenising (and redacting) a 10 KB complaint
#: costs what a 1.5 KB one does.
CHARS_PER_TOKEN = 12


def cut_chars(text: str, budget: int, truncation: str) -> str:
    """Drop the part of ``text`` that token truncation would drop anyway (head, or head+tail)."""
    limit = budget * CHARS_PER_TOKEN
    if truncation == "head_tail":
        return text if len(text) <= 2 * limit else f"{text[:limit]} {text[-limit:]}"
    return text[:limit]

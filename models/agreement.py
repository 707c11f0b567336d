"""How closely a fast runtime's outputs follow the torch model's, head by head.

An export is only served when it answers like the model it came from; :func:`agreement` is that
check, on held-out tickets, for the primary head and every extra head alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.base import FloatArray

if TYPE_CHECKING:
    from models.heads import HeadSpec, Layout


def agreement(
    reference: FloatArray,
    candidate: FloatArray,
    labels: Sequence[str] | None,
    names: list[str],
    layout: Layout | None = None,
) -> dict[str, Any]:
    """Primary-head label agreement (argmax) and, given gold labels, both macro-F1s and their
    difference; with extra heads, each one's agreement too (the least of them is what an
    export must keep)."""
    from sklearn.metrics import f1_score

    heads = layout.extra if layout is not None else []
    width = layout.primary_width if layout is not None else reference.shape[1]
    ref, cand = reference[:, :width].argmax(axis=1), candidate[:, :width].argmax(axis=1)
    out: dict[str, Any] = {
        "rows": len(ref),
        "label_agreement": float((ref == cand).mean()) if len(ref) else 1.0,
        "max_logit_diff": float(np.abs(reference - candidate).max()) if len(ref) else 0.0,
    }
    if heads and len(ref):
        per_head = {spec.name: head_agreement(spec, reference, candidate) for spec in heads}
        out["head_agreement"] = per_head
        out["label_agreement"] = min(out["label_agreement"], *per_head.values())
    if labels is not None:
        index = {name: i for i, name in enumerate(names)}
        gold = np.array([index.get(label, -1) for label in labels])
        keep = gold >= 0
        ref_f1 = f1_score(gold[keep], ref[keep], average="macro", zero_division=0)
        cand_f1 = f1_score(gold[keep], cand[keep], average="macro", zero_division=0)
        out.update(
            torch_macro_f1=float(ref_f1),
            onnx_macro_f1=float(cand_f1),
            macro_f1_delta=float(cand_f1 - ref_f1),
        )
    return out


def head_agreement(spec: HeadSpec, reference: FloatArray, candidate: FloatArray) -> float:
    """Share of rows on which an extra head gives the same answer (a multi-label head: the
    same label set) from both runtimes' logits."""
    ref, cand = spec.scores(reference), spec.scores(candidate)
    same = [ref.chosen(i) == cand.chosen(i) for i in range(len(reference))]
    return float(np.mean(same))

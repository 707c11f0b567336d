"""A LoRA + TF-IDF blend on CFPB, measured before it is built (issue 15, point 1).

Reads the LoRA model `bench/fill.py --part lora` saves (bench/out/cfpb-fill-model), rebuilds its
validation rows (the capped train file, data health, the pipeline's seeded 10 % split), fits
TF-IDF on the rest of that train part, and picks the blend weight w of
``w * log p_lora + (1 - w) * log p_tfidf`` on validation macro-F1 (grid of 0.05). Printed: test
macro-F1, weakest class F1 and routed share/precision at 0.85 for LoRA alone, TF-IDF alone and
the blend, so a blend backend is only built if it wins here.

    .venv/bin/python bench/blend.py     # about 6 minutes (scores 3,700 complaints at 256 tokens)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.classifier import DATA, OUT, cap_per_class, cfpb  # noqa: E402
from models import load  # noqa: E402
from models.health import HealthConfig, prepare  # noqa: E402
from models.labels import normalise_label  # noqa: E402
from models.tfidf import TfidfClassifier  # noqa: E402
from models.train_config import split  # noqa: E402

MODEL = OUT / "cfpb-fill-model"


def figures(proba: np.ndarray[Any, Any], labels: list[str], truth: list[str]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    picked = [labels[j] for j in proba.argmax(axis=1)]
    per_class = f1_score(truth, picked, labels=labels, average=None, zero_division=0)
    routed = proba.max(axis=1) >= 0.85
    right = np.array(picked) == np.array(truth)
    return {
        "macro_f1": round(float(np.mean(per_class)), 4),
        "min_class_f1": round(float(per_class.min()), 4),
        "routed_share": round(float(routed.mean()), 4),
        "routed_precision": round(float(right[routed].mean()), 4) if routed.any() else None,
    }


def blend(lora: np.ndarray[Any, Any], tfidf: np.ndarray[Any, Any], w: float) -> Any:
    logits = w * np.log(np.clip(lora, 1e-12, 1)) + (1 - w) * np.log(np.clip(tfidf, 1e-12, 1))
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def main() -> None:
    if not MODEL.is_dir():
        raise SystemExit(f"{MODEL} is missing: run `python bench/fill.py --part lora` first")
    model = load(MODEL, "cpu", runtime="torch")
    labels = model.labels
    data, _ = prepare(
        cap_per_class(cfpb(DATA / "cfpb-complaints" / "train.csv"), 1500), HealthConfig()
    )
    parts = split(data, 0.1, 0.0, 13)
    test = cfpb(DATA / "cfpb-complaints" / "test.csv")
    test_truth = [normalise_label(x, {}) for x in test.labels]
    tfidf = TfidfClassifier().fit(parts.train.texts, parts.train.labels)
    order = [tfidf.labels.index(x) for x in labels]
    val_lora, test_lora = model.predict_proba(parts.val.texts), model.predict_proba(test.texts)
    val_tfidf = tfidf.predict_proba(parts.val.texts)[:, order]
    test_tfidf = tfidf.predict_proba(test.texts)[:, order]
    grid = np.round(np.arange(0.0, 1.0001, 0.05), 2)
    val_f1 = {
        float(w): figures(blend(val_lora, val_tfidf, w), labels, parts.val.labels)["macro_f1"]
        for w in grid
    }
    best = max(val_f1, key=lambda w: (val_f1[w], w))
    out = {
        "validation_rows": len(parts.val),
        "blend_weight_on_lora": best,
        "validation_macro_f1_by_weight": val_f1,
        "test_lora": figures(test_lora, labels, test_truth),
        "test_tfidf": figures(test_tfidf, labels, test_truth),
        "test_blend": figures(blend(test_lora, test_tfidf, best), labels, test_truth),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Class-balance fill benchmark (issue 16, point 2): CFPB's weakest class with and without fill.

The setup is bench/classifier.py --part cfpb's (its loading and per-class cap, imported; 256
tokens head+tail, 2 epochs, weighted loss), so the LoRA "before" is the README's CFPB row
(macro-F1 0.754, lowest class F1 0.614, consumer loan) and only the "after" needs training:

    .venv/bin/python bench/fill.py --part tfidf                 # before and after, minutes
    nice -n 10 .venv/bin/python bench/fill.py --part lora \\
        --json-out bench/out/fill-lora.json > bench/out/fill-lora.log 2>&1   # about an hour

Fill goes through the one pipeline (TrainConfig.fill), on the train split only: the official
test file is scored as it is. Each part prints macro-F1, the per-class F1, the weakest class and
the routed band's share and precision; the LoRA part prints the TF-IDF baseline beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.classifier import DATA, OUT, cap_per_class, cfpb, figures, run_training  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402

#: the README's CFPB row (bench/classifier.py --part cfpb, LoRA): the "before" of the LoRA part
README_BEFORE = {"macro_f1": 0.754, "min_class_f1": 0.614, "weakest": "consumer loan"}


def config(args: argparse.Namespace, fill: bool) -> TrainConfig:
    """bench/classifier.py --part cfpb's training setup, with or without fill."""
    return TrainConfig(
        epochs=2,
        max_length=256,
        truncation="head_tail",
        imbalance="weighted",
        fill=fill,
        fill_share=args.fill_share,
        hard_negatives=args.hard_negatives if fill else 0,
    )


def summary(out: dict[str, Any]) -> dict[str, Any]:
    per_class = out["per_class_f1"]
    weakest = min(per_class, key=per_class.__getitem__)
    routed = out["bands"].get("routed", {})
    return {
        "macro_f1": out["macro_f1"],
        "weakest": weakest,
        "min_class_f1": per_class[weakest],
        "routed_share": routed.get("share"),
        "routed_precision": routed.get("precision"),
        "per_class_f1": per_class,
        "train_rows": out["rows"],
    }


def run(args: argparse.Namespace, kind: str, fill: bool) -> dict[str, Any]:
    train_data = cap_per_class(cfpb(DATA / "cfpb-complaints" / "train.csv"), args.cap)
    test = cfpb(DATA / "cfpb-complaints" / "test.csv")
    save = OUT / "cfpb-fill-model" if kind == "lora-transformer" and fill else None
    if save is not None and save.exists():
        raise SystemExit(f"{save} exists: move it away first (the run would not overwrite it)")
    started = time.perf_counter()
    result = run_training(train_data, test, config(args, fill), save, kind=kind)
    out = figures(result)
    row = summary(out)
    row["wall_seconds"] = round(time.perf_counter() - started, 1)
    if kind == "lora-transformer":
        row["tfidf_baseline"] = out["baseline"]
        row["ece_after"] = out["ece_after"]
    return row


def part_tfidf(args: argparse.Namespace) -> dict[str, Any]:
    before, after = run(args, "tfidf", False), run(args, "tfidf", True)
    return {"before": before, "after": after, **deltas(before, after)}


def part_lora(args: argparse.Namespace) -> dict[str, Any]:
    after = run(args, "lora-transformer", True)
    return {"before_readme": README_BEFORE, "after": after, **deltas(README_BEFORE, after)}


def deltas(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    weakest = before["weakest"]
    after_weakest = next(
        (f for label, f in after["per_class_f1"].items() if label.startswith(weakest)), None
    )
    return {
        "macro_f1_change": round(after["macro_f1"] - before["macro_f1"], 4),
        "before_weakest_class_after": after_weakest,
        "before_weakest_class_change": (
            round(after_weakest - before["min_class_f1"], 4) if after_weakest is not None else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=("tfidf", "lora"), required=True)
    parser.add_argument("--cap", type=int, default=1500, help="max train rows per class")
    parser.add_argument("--fill-share", type=float, help="TrainConfig.fill_share")
    parser.add_argument("--hard-negatives", type=int, default=0, help="rows per confused pair")
    parser.add_argument("--json-out", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from models.settings import ModelSettings
    from models.transformer import configure_threads

    configure_threads(ModelSettings().torch_threads)
    train_data = cap_per_class(cfpb(DATA / "cfpb-complaints" / "train.csv"), args.cap)
    print(f"== cfpb fill ({args.part}); train capped: {dict(Counter(train_data.labels))}")
    out = (part_tfidf if args.part == "tfidf" else part_lora)(args)
    shown = json.dumps(out, indent=2)
    print(shown, flush=True)
    if args.json_out:  # beside the log, for the README row
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(shown + "\n")


if __name__ == "__main__":
    main()

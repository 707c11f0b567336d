"""Classifier benchmark: the figures issue #3 asks for, on the full public data sets.

Parts (run one with ``--part``, or ``all``):

- ``banking77``: 77 intents mapped to 7 teams, full train, official test file;
- ``cfpb``: CFPB complaints, 8 products, long and imbalanced (head+tail truncation);
- ``novelty``: banking77 teams with ``fx`` withheld from training (one team, seen when the
  detector was chosen: ``bench/novelty.py`` reports on teams not used for choosing);
- ``speed``: training time on 2,000 banking77 tickets;
- ``load``: model directory load time (after imports, and cold in a fresh process).

Each part prints its figures next to the target; ``--json-out FILE`` also writes them. Training is
CPU-heavy (about 220 s per epoch on 10,000 short tickets on 2 cores), so run parts separately:

    .venv/bin/python bench/classifier.py --part speed --part load --json-out bench/out/speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.bands import Thresholds  # noqa: E402
from models.data import LabelledData, read_labelled  # noqa: E402
from models.encoder import mean_pool  # noqa: E402
from models.gates import EvalPack  # noqa: E402
from models.health import HealthConfig, normalise_label, prepare  # noqa: E402
from models.pipeline import TrainRequest, train  # noqa: E402
from models.result import TrainResult  # noqa: E402
from models.settings import default_base_model  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402

DATA = REPO.parent / "shared" / "data"
OUT = REPO / "bench" / "out"
PARTS = ("banking77", "cfpb", "novelty", "speed", "load")

TARGETS = {
    "banking77": "macro-F1 >= 0.975, ECE <= 0.03, routed precision >= 0.95",
    "cfpb": "macro-F1 >= 0.78, every class F1 >= 0.55, ECE <= 0.03, routed precision >= 0.95",
    "novelty": ">= 80% of fx outside routed; other teams' routed share drops <= 3 points",
    "speed": "2,000 tickets train <= 180 s",
    "load": "load <= 2 s",
}


def banking77_teams(path: Path) -> LabelledData:
    teams = json.loads((DATA / "banking77" / "teams.json").read_text())["teams"]
    team_of = {intent: team for team, intents in teams.items() for intent in intents}
    data = read_labelled(path, "text", "category")
    return LabelledData(data.texts, [team_of[i] for i in data.labels], data.source)


def cfpb(path: Path) -> LabelledData:
    return read_labelled(path, "Consumer complaint narrative", "Product")


def cap_per_class(data: LabelledData, cap: int, seed: int = 0) -> LabelledData:
    """Undersample big classes: on 2 CPU cores the full 32k-row CFPB train is days of work."""
    import numpy as np

    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in sorted(set(data.labels)):
        rows = [i for i, x in enumerate(data.labels) if x == label]
        keep += rng.permutation(rows)[:cap].tolist()
    keep.sort()
    return LabelledData([data.texts[i] for i in keep], [data.labels[i] for i in keep], data.source)


def run_training(
    data: LabelledData,
    test: LabelledData,
    config: TrainConfig,
    save: Path | None,
    kind: str = "lora-transformer",
) -> TrainResult:
    health_config = HealthConfig()
    cleaned, health = prepare(data, health_config)
    print(f"  health: {health.rows_in} -> {health.rows_out} rows, verdict {health.verdict}")
    # training normalised the labels ("Mortgage" -> "mortgage"); the test file must be read the
    # same way (as `triage train --test` and `triage evaluate` do), or no label would match
    test = LabelledData(
        test.texts,
        [normalise_label(label, health_config.synonyms) for label in test.labels],
        test.source,
    )
    # health ran above (its figures are printed), so the pipeline skips it: health=None
    result = train(
        TrainRequest(
            data=cleaned,
            config=config,
            pack=EvalPack(),
            base_model=default_base_model(),
            test=test,
            thresholds=Thresholds(),
            health=None,
            kind=kind,
        )
    )
    if save is not None:
        result.save(save, health=health.to_dict())
    return result


def figures(result: TrainResult) -> dict[str, Any]:
    ev = result.evaluation
    return {
        "rows": result.record.rows,
        "seconds": round(result.record.seconds, 1),
        "epochs_run": len(result.record.history),
        "best_epoch": result.record.best_epoch,
        "temperature": round(result.record.temperature, 4),
        "accuracy": round(ev.accuracy, 4),
        "macro_f1": round(ev.macro_f1, 4),
        "ece_before": round(ev.ece_uncalibrated, 4) if ev.ece_uncalibrated is not None else None,
        "ece_after": round(ev.ece, 4),
        "bands": ev.bands,
        "baseline": ev.baseline,
        "per_class_f1": {k: round(v["f1"], 4) for k, v in ev.per_class.items()},
        "gates_passed": ev.gates.passed,
    }


def part_banking77(args: argparse.Namespace) -> dict[str, Any]:
    """With ``--noisy`` the official test file is also scored as its fixed noisy copy (what
    `triage evaluate --noisy` scores); ``--augment-noise R`` trains on a noisy copy too."""
    from models.augment import noisy_test_copy
    from models.cli import noisy_figures
    from models.evaluate import evaluate

    train_data = banking77_teams(DATA / "banking77" / "train.csv")
    if args.limit:
        train_data = cap_per_class(train_data, args.limit)
    test = banking77_teams(DATA / "banking77" / "test.csv")
    config = TrainConfig(
        epochs=args.epochs or 3,
        max_length=args.max_length or 64,
        augment_noise=args.augment_noise,
    )
    target = OUT / ("banking77-model" + ("-noise" if args.augment_noise else ""))
    save = target if args.backend == "lora-transformer" and not target.exists() else None
    started = time.perf_counter()
    result = run_training(train_data, test, config, save, kind=args.backend)
    out = figures(result)
    if args.noisy:
        noisy_texts = noisy_test_copy(test).texts
        noisy = evaluate(result.classifier, noisy_texts, test.labels, pack=EvalPack())
        out["noisy"] = noisy_figures(result.evaluation.macro_f1, noisy.macro_f1)
    out.update(backend=args.backend, augment_noise=args.augment_noise, limit=args.limit)
    out["wall_seconds"] = round(time.perf_counter() - started, 1)
    return out


def part_cfpb(args: argparse.Namespace) -> dict[str, Any]:
    train_data = cap_per_class(cfpb(DATA / "cfpb-complaints" / "train.csv"), args.cap)
    test = cfpb(DATA / "cfpb-complaints" / "test.csv")
    print(f"  train capped at {args.cap}/class: {dict(Counter(train_data.labels))}")
    config = TrainConfig(
        epochs=args.epochs or 2,
        max_length=args.max_length or 256,
        truncation="head_tail",
        imbalance="weighted",
    )
    result = run_training(train_data, test, config, OUT / "cfpb-model")
    out = figures(result)
    out["cap_per_class"] = args.cap
    out["min_class_f1"] = min(out["per_class_f1"].values())
    return out


def part_novelty(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    withheld = "fx"
    full = banking77_teams(DATA / "banking77" / "train.csv")
    keep = [i for i, label in enumerate(full.labels) if label != withheld]
    train_data = LabelledData(
        [full.texts[i] for i in keep], [full.labels[i] for i in keep], full.source
    )
    if args.limit:
        train_data = cap_per_class(train_data, args.limit)
    test = banking77_teams(DATA / "banking77" / "test.csv")
    known = [i for i, label in enumerate(test.labels) if label != withheld]
    config = TrainConfig(epochs=args.epochs or 3, max_length=args.max_length or 64)
    result = run_training(
        train_data,
        LabelledData([test.texts[i] for i in known], [test.labels[i] for i in known], "known"),
        config,
        OUT / "novelty-model",
    )
    model, thresholds = result.classifier, Thresholds()
    if args.dump:
        dump_features(model, result, test, args.dump)
    scores = model.score(test.texts)
    conf = scores.proba.max(axis=1)
    is_fx = np.array([label == withheld for label in test.labels])

    def routed(novel_aware: bool) -> Any:
        return np.array(
            [
                thresholds.band(float(c), novel=bool(n) and novel_aware) == "routed"
                for c, n in zip(conf, scores.novel, strict=True)
            ]
        )

    with_novelty, without = routed(True), routed(False)
    return {
        "train_rows": len(train_data),
        "fx_outside_routed": round(float(1 - with_novelty[is_fx].mean()), 4),
        "fx_outside_routed_confidence_only": round(float(1 - without[is_fx].mean()), 4),
        "fx_flagged_novel": round(float(scores.novel[is_fx].mean()), 4),
        "others_routed_share_without_novelty": round(float(without[~is_fx].mean()), 4),
        "others_routed_share_with_novelty": round(float(with_novelty[~is_fx].mean()), 4),
        "others_routed_drop_points": round(
            100 * float(without[~is_fx].mean() - with_novelty[~is_fx].mean()), 2
        ),
        "others_flagged_novel": round(float(scores.novel[~is_fx].mean()), 4),
        "known_teams_macro_f1": round(result.evaluation.macro_f1, 4),
    }


def dump_features(model: Any, result: TrainResult, test: LabelledData, path: Path) -> None:
    """Embeddings of train/val/test for trying other novelty scores offline: the mean-pooled
    last layer (what the detector uses), [CLS], and the classifier's input (pooler output)."""
    import numpy as np
    import torch

    captured: list[Any] = []
    head = model.model.classifier
    hook = head.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach()))
    arrays: dict[str, Any] = {}
    try:
        for name, part in (
            ("train", result.split.train),
            ("val", result.split.val),
            ("test", test),
        ):
            ids = model.encode(part.texts)
            logits, mean, cls, pooled = [], [], [], []
            with torch.inference_mode():
                for start in range(0, len(ids), 64):
                    captured.clear()
                    batch = model.collate(ids[start : start + 64])
                    out = model.model(**batch, output_hidden_states=True)
                    hidden = out.hidden_states[-1]
                    mean.append(mean_pool(hidden, batch["attention_mask"]).numpy())
                    cls.append(hidden[:, 0].numpy())
                    pooled.append(captured[0].numpy())
                    logits.append(out.logits.numpy())
            arrays[f"{name}_logits"] = np.concatenate(logits)
            arrays[f"{name}_mean"] = np.concatenate(mean)
            arrays[f"{name}_cls"] = np.concatenate(cls)
            arrays[f"{name}_pooled"] = np.concatenate(pooled)
            arrays[f"{name}_labels"] = np.array(part.labels)
    finally:
        hook.remove()
    np.savez(path, **arrays)


def part_speed(args: argparse.Namespace) -> dict[str, Any]:
    full = banking77_teams(DATA / "banking77" / "train.csv")
    n = args.speed_rows
    data = cap_per_class(full, n // 7 + 1)
    data = LabelledData(data.texts[:n], data.labels[:n], data.source)
    config = TrainConfig(epochs=args.epochs or 3, max_length=args.max_length or 64)
    started = time.perf_counter()
    result = run_training(data, banking77_teams(DATA / "banking77" / "test.csv"), config, None)
    wall = time.perf_counter() - started
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "speed-model"
    if not target.exists():
        result.save(target)
    return {
        "rows": len(data),
        "wall_seconds_total": round(wall, 1),
        "fit_seconds": round(result.record.seconds, 1),
        "per_epoch_seconds": [round(h["seconds"], 1) for h in result.record.history],
        "macro_f1_on_test": round(result.evaluation.macro_f1, 4),
        "baseline": result.evaluation.baseline,
    }


def part_load(args: argparse.Namespace) -> dict[str, Any]:
    from models.artifact import load

    model_dir = Path(args.model_dir) if args.model_dir else OUT / "speed-model"
    if not model_dir.is_dir():
        raise SystemExit(f"{model_dir} does not exist: run --part speed first or --model-dir")
    load(model_dir, device="cpu")  # imports and file cache warm
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        load(model_dir, device="cpu")
        warm.append(time.perf_counter() - started)
    code = (
        "import time; t=time.perf_counter(); from models.artifact import load; "
        f"load({str(model_dir)!r}, device='cpu'); print(time.perf_counter()-t)"
    )
    cold = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return {
        "model_dir": str(model_dir),
        "load_seconds_median": round(statistics.median(warm), 3),
        "load_seconds_max": round(max(warm), 3),
        "cold_process_seconds_including_imports": round(float(cold.stdout.strip()), 2),
    }


RUNNERS = {
    "banking77": part_banking77,
    "cfpb": part_cfpb,
    "novelty": part_novelty,
    "speed": part_speed,
    "load": part_load,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", action="append", choices=(*PARTS, "all"), required=True)
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--epochs", type=int, help="override the part's default epochs")
    parser.add_argument("--max-length", type=int, help="override the part's default tokens")
    parser.add_argument("--cap", type=int, default=1500, help="cfpb: max train rows per class")
    parser.add_argument("--limit", type=int, help="novelty, banking77: max train rows per class")
    parser.add_argument(
        "--augment-noise", type=float, default=0.0, help="banking77: TrainConfig.augment_noise"
    )
    parser.add_argument(
        "--noisy", action="store_true", help="banking77: also score the noisy test copy"
    )
    parser.add_argument(
        "--backend", default="lora-transformer", help="banking77: tfidf or lora-transformer"
    )
    parser.add_argument("--speed-rows", type=int, default=2000)
    parser.add_argument("--model-dir", help="load: model directory to time")
    parser.add_argument("--dump", type=Path, help="novelty: save embeddings here (.npz)")
    args = parser.parse_args()
    parts = PARTS if "all" in args.part else tuple(dict.fromkeys(args.part))
    from models.settings import ModelSettings
    from models.transformer import configure_threads

    configure_threads(ModelSettings().torch_threads)
    results: dict[str, Any] = {}
    for part in parts:
        print(f"== {part} (target: {TARGETS[part]})", flush=True)
        results[part] = RUNNERS[part](args)
        print(json.dumps(results[part], indent=2), flush=True)
        if args.json_out:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

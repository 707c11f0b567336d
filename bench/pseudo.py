"""Pseudo-label benchmark (issue 16, point 4): banking77 teams with 10 % of the training labels.

A stratified 10 % of the official train file keeps its team label; the other 90 % are given as
unlabelled text (their labels are kept aside only to measure how right the pseudo-labels were).
Both runs go through the one pipeline on the same labelled rows and the same validation split;
the official test file (3,080 rows) is scored as it is:

    .venv/bin/python bench/pseudo.py --backend tfidf [--labeller self]      # 10 min (1 with self)
    .venv/bin/python bench/pseudo.py --backend lora-transformer --rounds 1    # 13 min quiet

Printed: test macro-F1 supervised and self-trained, the gain in points, and per class the
pseudo-labels it got, their check-slice precision (what the report says) and their true
precision on the unlabelled rows (what the benchmark alone can know).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.classifier import DATA, banking77_teams  # noqa: E402
from models.bands import Thresholds  # noqa: E402
from models.clean import clean_text  # noqa: E402
from models.data import LabelledData  # noqa: E402
from models.gates import EvalPack  # noqa: E402
from models.pipeline import TrainRequest, labeller_for, train  # noqa: E402
from models.pseudo import confident, usable  # noqa: E402
from models.redact import redact_text  # noqa: E402
from models.settings import default_base_model  # noqa: E402
from models.train_config import Split, TrainConfig, split  # noqa: E402


def labelled_share(data: LabelledData, share: float, seed: int) -> tuple[LabelledData, list[int]]:
    """A stratified ``share`` of the rows with labels, and the row numbers of the rest."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in sorted(set(data.labels)):
        rows = [i for i, x in enumerate(data.labels) if x == label]
        keep += rng.permutation(rows)[: max(2, round(len(rows) * share))].tolist()
    kept = set(keep)
    keep.sort()
    rest = [i for i in range(len(data.texts)) if i not in kept]
    part = LabelledData([data.texts[i] for i in keep], [data.labels[i] for i in keep], "10 %")
    return part, rest


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tfidf", choices=["tfidf", "lora-transformer"])
    parser.add_argument("--share", type=float, default=0.1, help="labelled share of train")
    parser.add_argument("--threshold", type=float, default=0.9, help="TrainConfig.pseudo_threshold")
    parser.add_argument("--rounds", type=int, default=2, help="TrainConfig.pseudo_rounds")
    parser.add_argument("--labeller", default="spread", choices=["spread", "self"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--val-share", type=float, default=0.1, help="of the labelled rows, held for validation"
    )
    parser.add_argument("--json-out", type=Path)
    return parser.parse_args()


def round1_precision(
    model: Any, request: TrainRequest, labelled: Split, truth: dict[str, str]
) -> dict[str, float]:
    """The true precision, per class, of the labels round 1 gave (the labeller's confident
    picks for the supervised model), which only a benchmark that kept the labels aside can
    know. A spread labeller embeds the rows again for this."""
    pool = usable(list(request.unlabelled), labelled)
    guess = labeller_for(request)(labelled, pool)
    right: Counter[str] = Counter()
    given: Counter[str] = Counter()
    guesses = guess(model, pool, model.score(pool))
    for i, label in confident(guesses, request.config.pseudo_threshold):
        given[label] += 1
        right[label] += truth[pool[i]] == label
    return {k: round(right[k] / given[k], 3) for k in sorted(given)}


def main() -> None:
    args = arguments()
    full = banking77_teams(DATA / "banking77" / "train.csv")
    test = banking77_teams(DATA / "banking77" / "test.csv")
    labelled, rest = labelled_share(full, args.share, args.seed)
    # one validation split for both runs, so both fit the same labelled rows
    parts = split(labelled, args.val_share, 0.0, args.seed)
    unlabelled = [full.texts[i] for i in rest]
    # keyed as self-training sees a text: cleaned and redacted
    truth = {redact_text(clean_text(full.texts[i])) or "": full.labels[i] for i in rest}
    config = TrainConfig(
        epochs=args.epochs,
        seed=args.seed,
        pseudo_threshold=args.threshold,
        pseudo_rounds=args.rounds,
        pseudo_labeller=args.labeller,
    )
    print(f"{len(labelled)} labelled rows, {len(unlabelled)} unlabelled, test {len(test)}")

    def request(pseudo: bool) -> TrainRequest:
        return TrainRequest(
            data=parts.train,
            val=parts.val,
            config=config,
            pack=EvalPack(),
            kind=args.backend,
            base_model=default_base_model() if args.backend != "tfidf" else "",
            test=test,
            thresholds=Thresholds(),
            progress=False,
            unlabelled=unlabelled if pseudo else (),
            on_pseudo=print,
        )

    supervised = train(request(False))
    before = supervised.evaluation.macro_f1
    self_trained = train(request(True))
    after = self_trained.evaluation.macro_f1
    out = {
        "backend": args.backend,
        "labeller": args.labeller,
        "labelled_rows": len(labelled),
        "unlabelled_rows": len(unlabelled),
        "macro_f1_supervised": round(before, 4),
        "macro_f1_pseudo": round(after, 4),
        "gain_points": round(100 * (after - before), 2),
        "pseudo_rows": self_trained.record.rows.get("train_pseudo", 0),
        "round1_true_precision": round1_precision(
            supervised.classifier, request(True), supervised.split, truth
        ),
        "report": self_trained.record.pseudo_labels,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "report"}, indent=2))
    print(
        f"test macro-F1: {before:.4f} supervised on {len(labelled)} labels -> {after:.4f} with "
        f"pseudo-labels ({out['gain_points']:+.2f} points)"
    )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

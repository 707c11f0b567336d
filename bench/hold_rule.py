"""What the hold rule of held corrections catches, and what it costs honest reviewers (issue 16).

The simulation's setting: banking77 teams, a starter model trained on a 10 % seed through the
learner's own pipeline (TF-IDF backend, calibrated), the rest streamed and decided. For every
ticket two corrections are imagined: the honest one (the true team, where the model said
another) and a poisoned one (a random wrong team). The store's rule (``store.HoldRule``, on the
decision's top 3, as the worker stores it) is applied at several confidences, and the share of
each kind held is printed, over all tickets and over the shadow/manual ones reviewers see.

    .venv/bin/python bench/hold_rule.py [--seed 13] [--data-root /work/shared/data]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.label_issues import banking77_teams  # noqa: E402
from learner.retrain import fit_candidate  # noqa: E402
from models.data import LabelledData  # noqa: E402
from models.gates import EvalPack  # noqa: E402
from store.holds import HoldRule  # noqa: E402

CONFIDENCES = (0.90, 0.95, 0.98, 0.99)
TOP_K = 3  # what stream.serving stores with every decision
ROUTE = 0.85  # the default route threshold: below it a ticket is reviewed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--seed-fraction", type=float, default=0.1)
    args = parser.parse_args()

    data = banking77_teams(args.data_root)
    rng = random.Random(args.seed)
    rows = list(range(len(data)))
    rng.shuffle(rows)
    cut = round(args.seed_fraction * len(rows))
    seed = LabelledData(
        [data.texts[i] for i in rows[:cut]], [data.labels[i] for i in rows[:cut]], "seed"
    )
    stream = [rows[i] for i in range(cut, len(rows))]
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    with tempfile.TemporaryDirectory() as work:
        model = fit_candidate(seed, Path(work), backend="tfidf", test=seed, pack=lenient).model
        proba = model.predict_proba([data.texts[i] for i in stream])
    labels = model.labels
    kinds: dict[str, list[tuple[bool, list[dict[str, object]], str]]] = {"honest": [], "poison": []}
    for row, p in zip(stream, proba, strict=True):
        order = np.argsort(-p)[:TOP_K]
        top = [{"label": labels[j], "probability": float(p[j])} for j in order]
        reviewed = float(p[order[0]]) < ROUTE
        truth = data.labels[row]
        if labels[order[0]] != truth:
            kinds["honest"].append((reviewed, top, truth))
        kinds["poison"].append((reviewed, top, rng.choice([c for c in labels if c != truth])))
    print(
        f"banking77 teams, starter on {len(seed)} seed rows (TF-IDF, calibrated), "
        f"{len(stream)} streamed, seed {args.seed}; top {TOP_K} stored per decision"
    )
    print(f"{'hold confidence':>15} {'honest held':>18} {'poison held':>18}  (reviewed band only)")
    for confidence in CONFIDENCES:
        rule = HoldRule(confidence)
        cells = []
        for kind in ("honest", "poison"):
            items = kinds[kind]
            held = [rule.holds(top, label) for _, top, label in items]
            seen = [h for (reviewed, _, _), h in zip(items, held, strict=True) if reviewed]
            cells.append(f"{np.mean(held):6.1%} ({np.mean(seen):5.1%})")
        print(f"{confidence:>15.2f} {cells[0]:>18} {cells[1]:>18}")
    honest_reviewed = sum(r for r, _, _ in kinds["honest"])
    print(f"honest overrides: {len(kinds['honest'])} ({honest_reviewed} in the reviewed bands)")


if __name__ == "__main__":
    main()

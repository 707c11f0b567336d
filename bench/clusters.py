"""Failure clusters of a trained banking77-teams model on the official test file, and their cost.

Prints how many test tickets the model gets wrong, the seconds the evaluation takes without
clusters and the seconds the clusters add (a second forward pass over the failures only, then
the clustering), and the clusters as ``triage evaluate`` renders them. The model is the one
``bench/classifier.py --part banking77`` saves:

    nice -n 10 .venv/bin/python bench/clusters.py bench/out/banking77-model
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.classifier import DATA, banking77_teams  # noqa: E402
from models.artifact import load  # noqa: E402
from models.clusters import embedder, failure_clusters  # noqa: E402
from models.evaluate import evaluate  # noqa: E402
from models.gates import EvalPack  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-clusters", type=int, default=10)
    args = parser.parse_args(argv)
    test = banking77_teams(DATA / "banking77" / "test.csv")
    model = load(args.model_dir, args.device)
    start = time.perf_counter()
    result = evaluate(model, test.texts, test.labels, pack=EvalPack(), max_clusters=0)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    result.failure_clusters = failure_clusters(
        test.texts, test.labels, result.predicted, embedder(model), max_clusters=args.max_clusters
    )
    extra = time.perf_counter() - start
    wrong = sum(t != p for t, p in zip(test.labels, result.predicted, strict=True))
    print(
        f"{len(test.texts)} test rows, {wrong} misclassified, macro-F1 {result.macro_f1:.4f};"
        f" evaluate {plain:.1f} s, failure clusters +{extra:.1f} s"
    )
    clustered = sum(c.size for c in result.failure_clusters)
    print(f"the {len(result.failure_clusters)} largest clusters hold {clustered} of {wrong}")
    lines = result.render().splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("failure clusters")), 0)
    print("\n".join(lines[first:]) if result.failure_clusters else "no failure clusters")


if __name__ == "__main__":
    main()

"""How the drift watch reads stable and shifted traffic (issue 15, point 5).

A TF-IDF team model is trained on banking77 train through the one pipeline, so its manifest
holds the drift reference the workers use (its held-out test split). The banking77 test file is
then streamed through the worker's own window (``stream.drift.DriftWindow``), scored once:

- stable: the test tickets in a random order (several seeds), judged every 50 decisions once
  the window is full; the table gives the largest index seen per signal and how many of the
  judgements passed the limit (false alarms);
- shifted: windows in which one team takes a given share and the others keep their relative
  mix (drawn with replacement); the median label index over 20 draws per share.

    .venv/bin/python bench/drift.py [--window 1000] [--limit 0.2] [--data-root /work/shared/data]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.label_issues import banking77_teams  # noqa: E402
from models.artifact import load  # noqa: E402
from models.data import LabelledData, read_labelled  # noqa: E402
from models.gates import EvalPack  # noqa: E402
from models.pipeline import TrainRequest, run  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402
from stream.drift import SIGNALS, DriftReference, DriftWindow  # noqa: E402

Scored = list[tuple[str, float, bool]]
SHARES = (0.2, 0.25, 0.3, 0.4, 0.5)


def scored_stream(data_root: Path, work: Path) -> tuple[DriftReference, Scored, list[str]]:
    train = banking77_teams(data_root)
    lenient = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)
    request = TrainRequest(
        data=train, config=TrainConfig(), pack=lenient, kind="tfidf", health=None, progress=False
    )
    run(request, work / "model")
    model = load(work / "model", "cpu")
    reference = DriftReference.of(model)
    assert reference is not None, "the pipeline wrote no drift reference"
    test = banking77_teams_test(data_root)
    scores = model.score(test.texts)
    top = scores.proba.argmax(axis=1)
    stream = [
        (model.labels[j], float(scores.proba[i, j]), bool(scores.novel[i]))
        for i, j in enumerate(top)
    ]
    return reference, stream, test.labels


def banking77_teams_test(data_root: Path) -> LabelledData:
    """The test file with the same team mapping :func:`banking77_teams` gives the train file."""
    teams = json.loads((data_root / "banking77" / "teams.json").read_text())["teams"]
    team_of = {intent: team for team, intents in teams.items() for intent in intents}
    data = read_labelled(data_root / "banking77" / "test.csv", "text", "category")
    return LabelledData(data.texts, [team_of[i] for i in data.labels], data.source)


def stable_runs(
    reference: DriftReference, stream: Scored, window: int, limit: float, seeds: int
) -> tuple[dict[str, float], int, int]:
    worst = dict.fromkeys(SIGNALS, 0.0)
    judged = alarms = 0
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(stream))
        w = DriftWindow(window, reference.confidence_edges)
        for n, i in enumerate(order, 1):
            w.add(*stream[i])
            if w.full and n % 50 == 0:
                index = w.psi(reference)
                judged += 1
                alarms += max(index.values()) > limit
                worst = {k: max(worst[k], index[k]) for k in SIGNALS}
    return worst, judged, alarms


def shifted_median(
    reference: DriftReference,
    stream: Scored,
    truth: list[str],
    team: str,
    share: float,
    window: int,
) -> float:
    rng = np.random.default_rng(int(share * 1000))
    mine = [i for i, t in enumerate(truth) if t == team]
    rest = [i for i, t in enumerate(truth) if t != team]
    values = []
    for _ in range(20):
        k = round(share * window)
        rows = [*rng.choice(mine, k), *rng.choice(rest, window - k)]
        w = DriftWindow(window, reference.confidence_edges)
        for i in rows:
            w.add(*stream[i])
        values.append(w.psi(reference)["label"])
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        reference, stream, truth = scored_stream(args.data_root, Path(work))
    print(
        f"reference: {reference.rows} rows, {len(reference.label_shares)} teams; window "
        f"{args.window}, limit {args.limit}; noise floor (labels) "
        f"{reference.noise_floor(args.window):.3f}"
    )
    worst, judged, alarms = stable_runs(reference, stream, args.window, args.limit, args.seeds)
    figures = ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
    print(f"stable ({args.seeds} orders, {judged} judgements): largest PSI {figures}")
    print(f"  past the limit: {alarms} of {judged}")
    team = max(reference.label_shares, key=lambda t: reference.label_shares[t])
    print(f"shifted: team {team} (reference share {reference.label_shares[team]:.3f})")
    for share in SHARES:
        value = shifted_median(reference, stream, truth, team, share, args.window)
        print(f"  share {share:.2f}: median label PSI {value:.3f}")


if __name__ == "__main__":
    main()

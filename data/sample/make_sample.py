"""Regenerate the shipped banking77 slice from the full data set (run from the repo root).

    python data/sample/make_sample.py ../shared/data/banking77

Seeded and stratified by team, so the slice is the same on every machine.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

PER_TEAM_TRAIN = 200
PER_TEAM_TEST = 60


def main(src: Path, out: Path) -> None:
    teams = json.loads((src / "teams.json").read_text())["teams"]
    team_of = {intent: team for team, intents in teams.items() for intent in intents}
    rng = random.Random(77)  # noqa: S311 - a reproducible sample, not a secret
    for split, per_team in (("train", PER_TEAM_TRAIN), ("test", PER_TEAM_TEST)):
        with (src / f"{split}.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        by_team: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_team.setdefault(team_of[row["category"]], []).append(row)
        picked = []
        for team in sorted(by_team):
            for row in rng.sample(by_team[team], min(per_team, len(by_team[team]))):
                picked.append({"text": row["text"], "intent": row["category"], "team": team})
        rng.shuffle(picked)
        with (out / f"banking77_{split}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "intent", "team"])
            writer.writeheader()
            writer.writerows(picked)
    (out / "teams.json").write_text(json.dumps({"teams": teams}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)

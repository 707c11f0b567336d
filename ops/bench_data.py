"""The bench's tickets: banking77 and CFPB test files when present, else the shipped sample."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models import LabelledData, ModelError, read_labelled

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "data" / "sample"


@dataclass
class BenchData:
    short: list[str]
    long: list[str]
    sources: dict[str, str]
    labelled: dict[str, LabelledData] = field(default_factory=dict)


def load_data(data_dir: Path = DATA, sample_dir: Path = SAMPLE) -> BenchData:
    """banking77 (short) and CFPB (long) test files when present, else the shipped sample.

    Without CFPB, long tickets are made by joining ten sample tickets: the lengths are right, the
    wording is not, which is all a speed figure needs.
    """
    labelled: dict[str, LabelledData] = {}
    sources: dict[str, str] = {}
    b77 = data_dir / "banking77" / "test.csv"
    if b77.is_file():
        data = read_labelled(b77, "text", "category")
        labelled["banking77-intent"] = data
        teams_file = data_dir / "banking77" / "teams.json"
        if teams_file.is_file():
            teams = json.loads(teams_file.read_text("utf-8"))["teams"]
            team_of = {intent: team for team, intents in teams.items() for intent in intents}
            labelled["banking77-team"] = LabelledData(
                data.texts, [team_of.get(i, i) for i in data.labels], data.source
            )
        short, sources["short"] = data.texts, str(b77)
    else:
        sample = read_labelled(sample_dir / "banking77_test.csv", "text", "team")
        labelled["sample-team"] = sample
        short, sources["short"] = sample.texts, str(sample.source)
    cfpb = data_dir / "cfpb-complaints" / "test.csv"
    if cfpb.is_file():
        complaints = read_labelled(cfpb, "Consumer complaint narrative", "Product")
        labelled["cfpb-product"] = complaints
        long, sources["long"] = complaints.texts, str(cfpb)
    else:
        long = [" ".join(short[i : i + 10]) for i in range(0, len(short) - 10, 10)]
        sources["long"] = f"{sources['short']} (ten tickets joined: no CFPB data here)"
    sample_test = sample_dir / "banking77_test.csv"
    if "sample-team" not in labelled and sample_test.is_file():
        labelled["sample-team"] = read_labelled(sample_test, "text", "team")
    return BenchData(short=short, long=long, sources=sources, labelled=labelled)


def eval_set(data: BenchData, labels: Sequence[str], rows: int) -> tuple[str, LabelledData]:
    """The labelled held-out set whose classes the model knows best (most rows it can score)."""
    known = set(labels)
    best: tuple[str, LabelledData] | None = None
    for name, part in data.labelled.items():
        keep = [i for i, label in enumerate(part.labels) if label in known]
        if not keep or len(keep) < 0.5 * len(part):
            continue
        step = max(1, len(keep) // rows)
        keep = keep[::step][:rows]
        subset = LabelledData(
            [part.texts[i] for i in keep], [part.labels[i] for i in keep], part.source
        )
        if best is None or len(subset) > len(best[1]):
            best = (name, subset)
    if best is None:
        raise ModelError(
            f"no labelled test data has this model's classes {sorted(known)[:8]}; the bench "
            "knows banking77 (intents or teams), CFPB products and the shipped sample"
        )
    return best

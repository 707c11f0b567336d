"""The simulation's data: a labelled file cut into what each part of the loop may see.

The held-out test set scores every model and is never trained on; the seed is all the starter
model knows (and the gold set the learner keeps); the stream is what arrives as tickets, whose
labels only the simulated reviewer reads. Every cut is stratified, so a rare class is in each.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from models import LabelledData
from ops.exceptions import SimulationError


@dataclass(frozen=True)
class SimulationSplit:
    test: LabelledData
    #: everything but the test set: what the reference model ("all labels") trains on
    pool: LabelledData
    seed: LabelledData
    stream: LabelledData
    labels: list[str]


def split_for_simulation(
    data: LabelledData, test_fraction: float, seed_fraction: float, rng: random.Random
) -> SimulationSplit:
    """The test set first (``test_fraction`` of all rows), then the seed (``seed_fraction`` of
    the rest); ``rng`` is the simulation's, so a seed gives the same cut every time."""
    test, pool = stratified(data, test_fraction, rng)
    seed, stream = stratified(pool, seed_fraction, rng)
    return SimulationSplit(test, pool, seed, stream, sorted(set(data.labels)))


def apply_label_map(data: LabelledData, path: Path) -> LabelledData:
    """``{label: new}`` or ``{group: [labels]}`` (optionally wrapped in one outer key)."""
    raw = json.loads(path.read_text("utf-8"))
    if len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        raw = next(iter(raw.values()))
    mapping: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            mapping.update({str(v): key for v in value})
        else:
            mapping[key] = str(value)
    unmapped = sorted(set(data.labels) - set(mapping))
    if unmapped:
        raise SimulationError(
            f"{path} does not map the labels {unmapped[:10]}; add them to the label map"
        )
    return LabelledData(data.texts, [mapping[label] for label in data.labels], data.source)


def stratified(
    data: LabelledData, fraction: float, rng: random.Random
) -> tuple[LabelledData, LabelledData]:
    """(the ``fraction`` part, the rest), each class in proportion, at least one row each."""
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    taken: list[int] = []
    for rows in by_class.values():
        rng.shuffle(rows)
        taken += rows[: max(1, round(len(rows) * fraction))]
    chosen = set(taken)
    rest = [i for i in range(len(data)) if i not in chosen]
    rng.shuffle(rest)

    def pick(rows: list[int]) -> LabelledData:
        return LabelledData(
            [data.texts[i] for i in rows], [data.labels[i] for i in rows], data.source
        )

    return pick(sorted(chosen)), pick(rest)

"""The poisoner's answers, without the live stack."""

from __future__ import annotations

import random

from ops.simulate_poison import Poisoner, spacing

LABELS = ["cards", "fx", "transfers"]


def test_the_poisoner_spreads_its_wrong_labels_and_stops_at_its_count() -> None:
    poisoner = Poisoner(LABELS, count=3, every=spacing(3, 12), rng=random.Random(0))
    taken = []
    for position in range(20):
        if poisoner.takes(position):
            taken.append(position)
            answer = poisoner.answer(f"t{position}", "cards", decided="cards")
            assert answer.label != "cards"
            assert answer.action == "override"
            assert answer.reviewer == "poisoner"
    assert taken == [3, 7, 11]


def test_spacing_leaves_room_for_honest_answers() -> None:
    assert spacing(100, 2000) == 20
    assert spacing(100, 50) == 2

"""The labels a correction may name, by head, from the deployed model's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Store
from store.labels import DeployedLabels


@pytest.mark.slow
def test_every_head_is_correctable_and_a_multilabel_head_says_it_takes_a_set(
    store: Store, headed_model_dir: Path
) -> None:
    labels = DeployedLabels(store, headed_model_dir)
    heads = labels.heads()
    # nothing deployed: the fallback directory's model answers
    assert set(heads) == {"label", "intent", "tags"}
    assert "cards" in heads["label"]
    assert len(heads["intent"]) > 7
    assert "card" in heads["tags"]
    described = labels.describe()
    assert (described["tags"]["multilabel"], described["intent"]["multilabel"]) == (True, False)

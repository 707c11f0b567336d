"""The labels a correction may name, by head, from the deployed model's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Store
from store.labels import DeployedLabels


@pytest.mark.slow
def test_task_heads_are_correctable_and_a_multilabel_head_is_not_yet(
    store: Store, headed_model_dir: Path
) -> None:
    heads = DeployedLabels(store, headed_model_dir).heads()
    # nothing deployed: the fallback directory's model answers
    assert set(heads) == {"label", "intent"}
    assert "cards" in heads["label"]
    assert len(heads["intent"]) > 7

"""The labels a correction may name: the deployed model's, read from its manifest.

Both the recorder (which refuses a correction naming another label) and the review page (which
offers the labels) need the same answer, and both ask the registry which model is deployed;
here, below both of them, is the one place that knows the registry and may read a manifest.
"""

from __future__ import annotations

from pathlib import Path

from store.store import Store


class DeployedLabels:
    """Cached per deployed model directory, so a deploy that adds a class is picked up on the
    next call while an unchanged deployment never re-reads its manifest."""

    def __init__(self, store: Store, fallback_dir: Path) -> None:
        self.store = store
        self.fallback_dir = fallback_dir
        self._cache: dict[str, frozenset[str]] = {}

    def __call__(self) -> frozenset[str]:
        from models import read_manifest

        record = self.store.deployed_model()
        model_dir = Path(record.model_dir) if record is not None else self.fallback_dir
        key = str(model_dir)
        if key not in self._cache:
            self._cache[key] = frozenset(read_manifest(model_dir).labels)
        return self._cache[key]

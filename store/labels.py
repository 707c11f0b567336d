"""The labels a correction may name: the deployed model's, read from its manifest, by head.

Both the recorder (which refuses a correction naming another label or head) and the review page
(which offers the labels) need the same answer, and both ask the registry which model is
deployed; here, below both of them, is the one place that knows the registry and may read a
manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.tables import PRIMARY_HEAD

if TYPE_CHECKING:
    from store.store import Store


class DeployedLabels:
    """Cached per deployed model directory, so a deploy that adds a class is picked up on the
    next call while an unchanged deployment never re-reads its manifest.

    Calling it gives the primary head's labels (what every single-head consumer reads);
    :meth:`heads` gives every head's, keyed as corrections name them (the primary as
    ``label`` whatever the manifest calls it, the others by their manifest name).
    """

    def __init__(self, store: Store, fallback_dir: Path) -> None:
        self.store = store
        self.fallback_dir = fallback_dir
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}

    def __call__(self) -> frozenset[str]:
        return self.heads()[PRIMARY_HEAD]

    def heads(self) -> dict[str, frozenset[str]]:
        return {name: frozenset(head["labels"]) for name, head in self.describe().items()}

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every head as the review page needs it: ``labels`` (sorted), ``parent_head``,
        ``multilabel`` and, for a child head, ``parent_of`` (child label -> parent label), the
        primary first."""
        from models import read_manifest

        record = self.store.deployed_model()
        model_dir = Path(record.model_dir) if record is not None else self.fallback_dir
        key = str(model_dir)
        if key not in self._cache:
            manifest = read_manifest(model_dir)
            found: dict[str, dict[str, Any]] = {
                PRIMARY_HEAD: {"labels": sorted(manifest.labels), "parent_head": None}
            }
            for name, head in manifest.heads.items():
                if name == manifest.primary_head:
                    continue
                parent_of = getattr(head, "parent_of", None)
                under_primary = head.parent_head == manifest.primary_head
                found[name] = {
                    "labels": sorted(head.labels),
                    "parent_head": PRIMARY_HEAD if under_primary else head.parent_head,
                    # its correction names a set (Correction.labels), not one label
                    "multilabel": head.type == "multilabel",
                    **({"parent_of": dict(parent_of)} if isinstance(parent_of, dict) else {}),
                }
            self._cache[key] = found
        return self._cache[key]

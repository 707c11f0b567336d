"""Labels by head: what a correction of each head may name.

Its own module, below the store's record keeping and the deployed-labels cache alike, so
neither imports the other to share it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from store.tables import PRIMARY_HEAD

#: head name -> the labels a correction of that head may name
HeadLabels = Mapping[str, Collection[str]]


def head_labels(labels: Collection[str] | HeadLabels) -> HeadLabels:
    """``labels`` by head: a plain collection is the primary head's alone (what a caller of a
    single-head model passes), so a correction naming any other head is refused."""
    if isinstance(labels, Mapping):
        return labels
    return {PRIMARY_HEAD: labels}

"""A two-level taxonomy (team -> intent) served by one model and one forward pass.

The model is trained on the child labels (the 77 intents) and the parent (the 7 teams) is read
as the marginal of its children: P(team) = sum of P(intent) over the team's intents. That makes
the hierarchy consistent by construction, which a separate child head cannot promise: the child
shown is the most probable one INSIDE the predicted parent, so a child outside its parent never
reaches a decision. It also lets the parent learn from the finer labels: on banking77 the
marginal of an intent model beats a flat team model (bench/hierarchy.py).

The parent is the primary head (it bands and routes, so every consumer of the flat model keeps
working); the child is an extra head in :attr:`models.Scores.heads`, its confidence the
probability of the child given the predicted parent.

Artifact (kind ``hierarchy``): a manifest naming both heads and the mapping, and the child model
as a complete artifact of its own backend under ``leaf/``, loaded by the one loader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.artifact import PRIMARY_HEAD, Head, Manifest, load, read_manifest, write_manifest
from models.backends import backend, resolve
from models.base import Classifier, FloatArray, HeadScores, Scores
from models.data import HeadColumn, LabelledData
from models.exceptions import ArtifactError, DataError
from models.labels import normalise_label

if TYPE_CHECKING:
    from models.gates import EvalPack
    from models.result import TrainResult

KIND = "hierarchy"
LEAF_DIR = "leaf"
PRIMARY = PRIMARY_HEAD
#: what the wrapper hands through to the child model: the encoder's space for failure clusters
#: and novelty, its device and calibration for reports
_DELEGATED = frozenset(
    {"forward_texts", "features", "encode", "forward_ids", "device", "temperature", "novelty"}
)


@dataclass(frozen=True)
class Hierarchy:
    """Child label -> parent label; every child has exactly one parent."""

    parent_of: Mapping[str, str]
    #: the child head's name in decisions and manifests (the CLI uses the child column's name)
    child_head: str = "sub_label"

    @classmethod
    def from_file(cls, path: Path, child_head: str = "sub_label") -> Hierarchy:
        """``{parent: [children]}``, optionally under one top key (teams.json: ``{"teams": …}``)."""
        try:
            raw = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the hierarchy file {path}: {exc}") from exc
        if isinstance(raw, dict) and len(raw) == 1:
            (only,) = raw.values()
            if isinstance(only, dict):
                raw = only
        if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
            raise DataError(
                f"{path} is not a hierarchy: write {{parent: [child, ...]}} (as teams.json does)"
            )
        pairs = [(str(child), str(parent)) for parent, kids in raw.items() for child in kids]
        return cls.from_pairs(pairs, child_head, where=str(path))

    @classmethod
    def from_pairs(
        cls, pairs: Sequence[tuple[str, str]], child_head: str = "sub_label", where: str = "data"
    ) -> Hierarchy:
        """(child, parent) rows, e.g. two CSV columns; a child under two parents is refused."""
        parent_of: dict[str, str] = {}
        for child, parent in pairs:
            seen = parent_of.setdefault(child, parent)
            if seen != parent:
                raise DataError(
                    f"{where}: child label {child!r} sits under both {seen!r} and {parent!r}; a "
                    "hierarchy gives each child one parent: fix the rows or rename one child"
                )
        if not parent_of:
            raise DataError(f"{where}: the hierarchy is empty; give at least one child -> parent")
        return cls(parent_of, child_head)

    def normalised(self, synonyms: dict[str, str]) -> Hierarchy:
        """Both levels in the normal form data health gives labels ("Card Arrival" ->
        "card arrival"), so the mapping still names the classes the model was trained on."""
        pairs = [
            (normalise_label(child, synonyms), normalise_label(parent, synonyms))
            for child, parent in self.parent_of.items()
        ]
        return Hierarchy.from_pairs(pairs, self.child_head, where="the normalised hierarchy")

    @property
    def parents(self) -> list[str]:
        return sorted(set(self.parent_of.values()))

    def parent_labels(self, data: LabelledData) -> LabelledData:
        """The same rows labelled with their parents (what the primary head is scored on)."""
        missing = sorted(set(data.labels) - set(self.parent_of))[:5]
        if missing:
            raise DataError(
                f"labels {missing} of {data.source or 'the data'} have no parent in the hierarchy;"
                " add them to the mapping file"
            )
        return LabelledData(data.texts, [self.parent_of[x] for x in data.labels], data.source)


class HierarchicalClassifier:
    """A child-label classifier read as parent (primary head) plus child (extra head)."""

    def __init__(self, leaf: Classifier, hierarchy: Hierarchy) -> None:
        self.check(leaf.labels, hierarchy)
        self.leaf = leaf
        self.hierarchy = hierarchy
        self._labels = sorted({hierarchy.parent_of[x] for x in leaf.labels})
        column = {label: i for i, label in enumerate(self._labels)}
        self._member = np.zeros((len(leaf.labels), len(self._labels)))
        for row, child in enumerate(leaf.labels):
            self._member[row, column[hierarchy.parent_of[child]]] = 1.0
        self.manifest: Manifest | None = None
        #: the child head's evaluation, saved with the child model (set by the pipeline)
        self.child_metrics: dict[str, Any] = {}

    @staticmethod
    def check(child_labels: Sequence[str], hierarchy: Hierarchy) -> None:
        missing = sorted(set(child_labels) - set(hierarchy.parent_of))[:5]
        if missing:
            raise ArtifactError(
                f"child labels {missing} have no parent in the hierarchy; add them to the mapping"
            )

    def __getattr__(self, name: str) -> Any:
        if name in _DELEGATED:
            return getattr(self.leaf, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def version(self) -> str:
        return self.leaf.version

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    @property
    def thresholds(self) -> Any:
        return getattr(self.leaf, "thresholds", None)

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return np.asarray(self.leaf.predict_proba(texts) @ self._member)

    def score(self, texts: Sequence[str]) -> Scores:
        leaf = self.leaf.score(texts)
        proba = leaf.proba @ self._member
        inside = self._member[:, proba.argmax(axis=1)].T  # (n, children): 1 inside the parent
        conditional = leaf.proba * inside
        conditional /= np.maximum(conditional.sum(axis=1, keepdims=True), 1e-12)
        child = HeadScores(labels=list(self.leaf.labels), proba=conditional, parent=PRIMARY)
        return Scores(
            proba=proba,
            novelty=leaf.novelty,
            novel=leaf.novel,
            # the child model's own extra heads (urgency, tags) pass through from its one pass
            heads={**leaf.heads, self.hierarchy.child_head: child},
        )

    def save(self, path: Path, **manifest_extra: Any) -> Path:
        """The child model under ``leaf/`` (with its own head's metrics), then this manifest."""
        path = Path(path)
        self.leaf.save(
            path / LEAF_DIR, **({"metrics": self.child_metrics} if self.child_metrics else {})
        )
        self.manifest = wrap_leaf(path, self.hierarchy, **manifest_extra)
        return path

    @classmethod
    def load(cls, path: Path, manifest: Manifest, device: str = "auto") -> HierarchicalClassifier:
        leaf = load(Path(path) / str(manifest.backend.get("leaf", LEAF_DIR)), device, "torch")
        child = str(manifest.backend.get("child_head", "sub_label"))
        head = manifest.heads.get(child)
        parent_of = getattr(head, "parent_of", None) if head is not None else None
        if not isinstance(parent_of, dict):
            raise ArtifactError(f"{path}: the manifest's {child!r} head has no parent_of mapping")
        model = cls(leaf, Hierarchy(parent_of, child))
        model.manifest = manifest
        return model


def read_hierarchical(
    path: Path,
    text_col: str,
    label_col: str,
    sub_label_col: str | None,
    mapping: Path | None,
    heads: Sequence[HeadColumn] = (),
) -> tuple[LabelledData, Hierarchy | None]:
    """What `triage train` reads: the rows labelled with the CHILD label and the hierarchy, from
    two columns (``--label-col team --sub-label-col intent``) or a mapping file
    (``--label-col intent --hierarchy teams.json``); neither: the flat rows and None. The
    ``heads`` columns (urgency, tags) are read onto the same rows either way."""
    from models.data import read_labelled

    if sub_label_col is not None and mapping is not None:
        raise DataError(
            "give the hierarchy once: --sub-label-col (two columns) or --hierarchy (a file)"
        )
    if mapping is not None:
        rows = read_labelled(path, text_col, label_col, heads)
        return rows, Hierarchy.from_file(mapping, label_col)
    if sub_label_col is None:
        return read_labelled(path, text_col, label_col, heads), None
    parents = read_labelled(path, text_col, label_col)
    children = read_labelled(path, text_col, sub_label_col, heads)
    if parents.texts != children.texts:
        raise DataError(
            f"{path}: rows with a {label_col!r} but no {sub_label_col!r} (or the reverse); give "
            "every row both labels"
        )
    pairs = list(zip(children.labels, parents.labels, strict=True))
    return children, Hierarchy.from_pairs(pairs, sub_label_col, where=str(path))


def wrap_leaf(path: Path, hierarchy: Hierarchy, **manifest_extra: Any) -> Manifest:
    """Write the hierarchy's manifest around the child model already at ``path/leaf``.

    Also how an existing child-label model (an intent model, with its ONNX export if it has
    one: build it on ``leaf/`` with the child labels) becomes a hierarchy without retraining.
    """
    leaf_manifest = read_manifest(Path(path) / LEAF_DIR)
    child_labels = leaf_manifest.labels
    HierarchicalClassifier.check(child_labels, hierarchy)
    manifest = Manifest(
        kind=KIND,
        version=leaf_manifest.version,
        heads={
            PRIMARY: Head(labels=sorted({hierarchy.parent_of[x] for x in child_labels})),
            hierarchy.child_head: Head(
                labels=child_labels,
                temperature=leaf_manifest.heads[leaf_manifest.primary_head].temperature,
                parent_head=PRIMARY,
                parent_of=dict(hierarchy.parent_of),
            ),
            **{n: h for n, h in leaf_manifest.heads.items() if n != leaf_manifest.primary_head},
        },
        thresholds=leaf_manifest.thresholds,
        backend={
            "leaf": LEAF_DIR,
            "leaf_kind": leaf_manifest.kind,
            "child_head": hierarchy.child_head,
        },
        **manifest_extra,
    )
    write_manifest(Path(path), manifest)
    return manifest


def attach(
    model: HierarchicalClassifier, path: Path, manifest: Manifest, runtime: str
) -> HierarchicalClassifier:
    """The child model's faster runtime (ONNX), when its backend has one."""
    leaf_dir = Path(path) / str(manifest.backend.get("leaf", LEAF_DIR))
    leaf_manifest = read_manifest(leaf_dir)
    entry = backend(leaf_manifest.kind, str(leaf_dir))
    if entry.runtime is None:
        if runtime == "onnx":
            raise ArtifactError(
                f"{leaf_dir} is a {leaf_manifest.kind!r} model with no ONNX runtime"
            )
        return model
    model.leaf = resolve(entry.runtime)(model.leaf, leaf_dir, leaf_manifest, runtime)
    return model


def as_hierarchy(result: TrainResult, hierarchy: Hierarchy, pack: EvalPack) -> TrainResult:
    """The pipeline's step for a hierarchy: the child model's result read as parent + child.

    The primary evaluation (gates, bands, the TF-IDF baseline, wrapped the same way) is on the
    parent labels of the same test rows; the child model's own evaluation is kept as its head's
    metrics. The drift reference is re-read on the parents, which are what workers decide.
    """
    from models.evaluate import evaluate
    from models.reference import drift_reference

    model = HierarchicalClassifier(result.classifier, hierarchy)
    child = result.evaluation.metrics_for_manifest()
    model.child_metrics = child
    baseline = (
        HierarchicalClassifier(result.baseline, hierarchy) if result.baseline is not None else None
    )
    test = hierarchy.parent_labels(result.split.test)
    evaluation = evaluate(
        model, test.texts, test.labels, pack=pack, baseline=baseline, heads=result.split.test.heads
    )
    summary = {key: child[key] for key in ("accuracy", "macro_f1", "ece", "baseline", "rows")}
    return replace(
        result,
        classifier=model,
        evaluation=evaluation,
        baseline=baseline,
        drift_reference=drift_reference(model, result.split),
        head_metrics={
            **evaluation.heads,
            hierarchy.child_head: {**summary, "per_class": child["per_class"]},
        },
    )


def evaluate_child(
    model: Any, baseline: Any, texts: Sequence[str], labels: Sequence[str], pack: EvalPack
) -> Any:
    """The child head scored on its own labels (`triage evaluate --sub-label-col`): the child
    model beside the baseline's child model, so the per-class grid and the TF-IDF comparison
    exist for this head as for the primary one."""
    from models.evaluate import evaluate

    if not isinstance(model, HierarchicalClassifier):
        raise DataError(
            f"model {model.version} has one head; --sub-label-col needs a model trained with "
            "--sub-label-col or --hierarchy"
        )
    child_baseline = baseline.leaf if isinstance(baseline, HierarchicalClassifier) else None
    return evaluate(model.leaf, texts, labels, pack=pack, baseline=child_baseline)

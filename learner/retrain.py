"""Retraining: the gold set plus every correction in, a candidate model directory out.

The candidate is trained by the models pipeline (:mod:`models.pipeline`: data health, fit,
calibration, novelty, evaluation, gates, save), with the backend chosen through its one registry,
never a copy of it, so a retrained model is built exactly like the one a person trains with
``triage train``.

A candidate is written to ``<out_root>/.staging-<random>`` and renamed to ``<out_root>/<version>``
only once complete, so a version directory is always a whole artifact; a training killed
before the rename leaves only a staging directory, which nothing serves and
:func:`sweep_staging` removes before the next run.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from learner.exceptions import RetrainError
from learner.gates import is_held_out
from models import LabelledData, read_labelled
from store import TrainingCorrection

if TYPE_CHECKING:
    from models import Classifier, EvalPack, TrainConfig

Backend = Literal["lora-transformer", "tfidf"]
GOLD_TEXT_COL = "text"
GOLD_LABEL_COL = "label"


@dataclass(frozen=True)
class GoldSet:
    """The original labelled data: what the first model learned and what every model is
    tested on. ``<gold_dir>/train.jsonl`` and ``<gold_dir>/test.jsonl``, one
    ``{"text": ..., "label": ...}`` per line (JSON Lines: no CSV dialect to guess wrong)."""

    train: LabelledData
    test: LabelledData

    @classmethod
    def read(cls, gold_dir: Path) -> GoldSet:
        paths = {name: Path(gold_dir) / f"{name}.jsonl" for name in ("train", "test")}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise RetrainError(
                f"the gold set is incomplete: {', '.join(missing)} missing; write the original "
                f"labelled data there (columns {GOLD_TEXT_COL},{GOLD_LABEL_COL}) with "
                "`triage init --gold FILE`, or set TRIAGE_GOLD_DIR"
            )
        return cls(
            train=read_labelled(paths["train"], GOLD_TEXT_COL, GOLD_LABEL_COL),
            test=read_labelled(paths["test"], GOLD_TEXT_COL, GOLD_LABEL_COL),
        )

    def write(self, gold_dir: Path) -> None:
        import json

        gold_dir.mkdir(parents=True, exist_ok=True)
        for name, data in (("train", self.train), ("test", self.test)):
            with (gold_dir / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
                for text, label in zip(data.texts, data.labels, strict=True):
                    row = {GOLD_TEXT_COL: text, GOLD_LABEL_COL: label}
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def split_corrections(
    corrections: Sequence[TrainingCorrection], holdout_share: float
) -> tuple[list[TrainingCorrection], list[TrainingCorrection]]:
    """(train, held out): the held-out slice gates candidates and is never trained on."""
    train: list[TrainingCorrection] = []
    held: list[TrainingCorrection] = []
    for c in corrections:
        (held if is_held_out(c.correction_id, holdout_share) else train).append(c)
    return train, held


def as_labelled(corrections: Sequence[TrainingCorrection], source: str) -> LabelledData:
    """One row per text, the latest correction's label (reviewers' last word)."""
    latest: dict[str, str] = {}
    for c in corrections:  # oldest first: later ones overwrite
        latest[c.text] = c.label
    return LabelledData(texts=list(latest), labels=list(latest.values()), source=source)


def training_set(gold: LabelledData, corrections: Sequence[TrainingCorrection]) -> LabelledData:
    """Gold rows plus corrections; a correction replaces the gold label of the same text,
    because a person who looked at this ticket today outranks an old label."""
    merged: dict[str, str] = dict(zip(gold.texts, gold.labels, strict=True))
    for c in corrections:
        merged[c.text] = c.label
    return LabelledData(
        texts=list(merged), labels=list(merged.values()), source=f"{gold.source}+corrections"
    )


STAGING_PREFIX = ".staging-"


def sweep_staging(out_root: Path) -> list[Path]:
    """Remove the staging directories dead trainings left under ``out_root``; returns them.

    Only safe while no training writes there (the trigger calls it before a run starts).
    """
    if not out_root.is_dir():
        return []
    swept = [p for p in out_root.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    for path in swept:
        shutil.rmtree(path, ignore_errors=True)
    return swept


@dataclass(frozen=True)
class Candidate:
    version: str
    model_dir: Path
    model: Classifier


def fit_candidate(
    data: LabelledData,
    out_root: Path,
    *,
    backend: Backend,
    test: LabelledData,
    pack: EvalPack,
    base_model: str | None = None,
    config: TrainConfig | None = None,
    device: str | None = None,
    unlabelled: Sequence[str] = (),
) -> Candidate:
    """Train on ``data`` through the models pipeline (data health included) and write the
    artifact to ``<out_root>/<version>`` (atomically); ``device`` overrides the config's.
    ``unlabelled`` texts are self-trained on as pseudo-labels (models.pseudo)."""
    from models import BACKENDS, TrainConfig, TrainRequest, default_base_model, run

    out_root.mkdir(parents=True, exist_ok=True)
    staging = out_root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
    if backend not in BACKENDS:
        raise RetrainError(f"backend {backend!r} is unknown; use one of {sorted(BACKENDS)}")
    config = config or TrainConfig()
    request = TrainRequest(
        data=data,
        config=replace(config, device=device) if device is not None else config,
        pack=pack,
        kind=backend,
        base_model=base_model or default_base_model(),
        test=test,
        progress=False,
        unlabelled=unlabelled,
    )
    try:
        result = run(request, staging)
        model = result.classifier
        final = out_root / model.version
        if final.exists():
            raise RetrainError(
                f"{final} already exists: a model of version {model.version} was trained on the "
                "same data in the same second; wait and retrain"
            )
        staging.replace(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Candidate(version=model.version, model_dir=final, model=model)

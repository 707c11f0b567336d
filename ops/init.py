"""`triage init`: everything a fresh deployment needs before its services start, once.

Before this existed, each service created what it needed on its own first start (the schema,
topics) or not at all (the gold set, the first model), so a fresh `docker compose up` had
services racing on migrations and a worker with nothing to serve. Compose now runs this as a
one-shot `init` service that the others wait for.

Idempotent and safe to run concurrently: every step first looks at what exists and keeps it;
the whole run holds the redis lock ``lock:init`` (a second init waits, then finds everything
done), and the schema migration also holds a database lock of its own
(:meth:`store.Store.open`). Steps, in order: schema, topics, gold set, first model, the
``current`` link the workers fall back to when redis has no pointer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from bus import topic_guard
from learner import Announcer, GoldSet, LearnerSettings, adopt, fit_candidate
from models import HeadColumn, HeadOptions, read_labelled, split
from ops.exceptions import OpsError
from schemas import Topics
from store import ModelRecord, Store

log = logging.getLogger(__name__)

#: A second init waits this long for the first (which may be training a model) to finish.
INIT_WAIT_S = 3600.0


@dataclass(frozen=True)
class InitOptions:
    """What the operator passes on the command line; the rest comes from LearnerSettings."""

    gold: Path | None
    text_col: str = "text"
    label_col: str = "label"
    test_fraction: float = 0.2
    model: Path | None = None
    seed: int = 13
    #: extra heads' columns (--task-col, --multi-label-col) and loss weights, kept in the gold
    #: set so that every retrain trains them
    heads: HeadOptions = field(default_factory=HeadOptions)
    #: the column of the child label under --label-col (a team -> intent hierarchy)
    sub_label_col: str | None = None


def initialise(settings: LearnerSettings, options: InitOptions) -> list[str]:
    """Run every step; returns one line per step saying what it did or found."""
    topics = Topics(settings.topic_prefix)
    announcer = Announcer.from_settings(settings, topics)
    with (
        announcer.exclusive("init", wait_s=INIT_WAIT_S),
        Store.open(settings.database_url, upgrade=True) as store,
    ):
        done = ["schema: at the latest revision"]
        done.append(create_topics(settings, topics))
        gold, line = import_gold(settings.gold_dir, options)
        done.append(line)
        record, line = first_model(store, announcer, settings, gold, options)
        done.append(line)
        done.append(link_current(settings.model_dir, Path(record.model_dir)))
    return done


def create_topics(settings: LearnerSettings, topics: Topics) -> str:
    names = topics.all
    guard = topic_guard(settings, names)

    async def ensure() -> list[str]:
        try:
            return await guard.ensure()
        finally:
            await guard.close()

    created = asyncio.run(ensure())
    return f"topics: created {created}" if created else f"topics: all {len(names)} exist"


def import_gold(gold_dir: Path, options: InitOptions) -> tuple[GoldSet, str]:
    """The gold set is written once: a second init keeps it, whatever ``--gold`` says now,
    because every model and gate since was measured against it."""
    if (gold_dir / "train.jsonl").is_file() and (gold_dir / "test.jsonl").is_file():
        gold = GoldSet.read(gold_dir)
        return gold, f"gold set: kept {gold_dir} ({len(gold.train)} train, {len(gold.test)} test)"
    if options.gold is None:
        raise OpsError(
            f"no gold set in {gold_dir} (TRIAGE_GOLD_DIR) and no --gold FILE: pass the labelled "
            "export the first model should learn from"
        )
    columns = options.heads.columns
    if options.sub_label_col is not None:
        columns = (*columns, HeadColumn(options.sub_label_col))
    data = read_labelled(options.gold, options.text_col, options.label_col, columns)
    parts = split(data, 0.0, options.test_fraction, options.seed)
    gold = GoldSet(
        train=replace(parts.train, source="gold-train"),
        test=replace(parts.test, source="gold-test"),
        heads=columns,
        weights=options.heads.weights,
        child=options.sub_label_col,
    )
    gold.hierarchy()  # a child under two parents stops here, before anything is written
    staging = gold_dir.with_name(gold_dir.name + ".init-staging")
    shutil.rmtree(staging, ignore_errors=True)
    gold.write(staging)
    if gold_dir.exists():  # incomplete (a train file without its test file): replaced whole
        shutil.rmtree(gold_dir)
    staging.replace(gold_dir)  # atomic: a killed init leaves no half-written gold set
    line = (
        f"gold set: {options.gold} -> {gold_dir} ({len(gold.train)} train, {len(gold.test)} test)"
    )
    return gold, line


def first_model(
    store: Store,
    announcer: Announcer,
    settings: LearnerSettings,
    gold: GoldSet,
    options: InitOptions,
) -> tuple[ModelRecord, str]:
    """Keep the deployed model; else import ``--model`` or train one on the gold set."""
    current = store.deployed_model()
    if current is not None:
        return current, f"model: {current.version} is deployed, kept"
    if options.model is not None:
        record = adopt(store, announcer, options.model)
        return record, f"model: imported {options.model} as {record.version}, deployed"
    from models import load_pack

    candidate = fit_candidate(
        gold.trainable(gold.train),
        settings.registry_dir,
        backend=settings.backend,
        test=gold.trainable(gold.test),
        pack=load_pack(settings.eval_pack),
        device=settings.device,
        head_weights=gold.weights,
        hierarchy=gold.hierarchy(),
    )
    record = adopt(store, announcer, candidate.model_dir)
    return record, f"model: trained {record.version} ({settings.backend}) on the gold set, deployed"


def link_current(link: Path, target: Path) -> str:
    """``TRIAGE_MODEL_DIR`` (``current``) -> the deployed version, replaced atomically."""
    if link.exists() and not link.is_symlink():
        return f"current: {link} is a directory, kept (the redis pointer names the deployed one)"
    link.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(target.resolve(), link.parent.resolve())
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(relative, target_is_directory=True)
    temporary.replace(link)
    return f"current: {link} -> {relative}"

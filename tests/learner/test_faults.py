"""Fault drills for the learner: the store goes away mid-stream; the learner dies mid-training.

Each drill runs the real `triage learner` subprocess against the shared broker and redis, with a
store of its own (a PostgreSQL database created for the test, or a SQLite file), so blocking or
corrupting it cannot hurt other tests. What they assert is the learner's promise: nothing
recorded is lost or doubled, nothing half-trained is ever served.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from learner.recorder import RecordStage, StoreRetry
from learner.retrain import GoldSet
from models.artifact import load, read_manifest
from models.data import LabelledData
from schemas.events import Band
from schemas.topics import Topics
from store import Store, StoreUnavailable, registry
from store.tables import CorrectionRow, DecisionRow, TrainingRunRow
from tests.fixtures.learner import PgDatabase
from tests.fixtures.models import read_sample
from tests.fixtures.stack import PARTITIONS, StreamEnv, WorkerProcess
from tests.learner.events import correction, decision

#: Longer than two consumer session timeouts of the embedded profile (6 s): a learner whose
#: heartbeats stopped would be expelled from its group within it.
OUTAGE_S = 14.0
BANDS: tuple[Band, ...] = ("routed", "shadow", "manual")


def assert_alive(learner: WorkerProcess, during: str) -> None:
    assert learner.proc is not None
    code = learner.proc.poll()
    assert code is None, f"the learner exited {code} {during}:\n{learner.tail()}"


def wait_for(what: str, check: Callable[[], bool], proc: WorkerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        assert_alive(proc, f"while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s} s:\n{proc.tail()}")


def stored(url: str) -> tuple[list[str], list[str]]:
    """(decided ticket ids, correction ids) as the store holds them, duplicates included."""
    store = Store.open(url, upgrade=False)
    try:
        with store.session() as session:
            tickets = list(session.scalars(select(DecisionRow.ticket_id)))
            corrections = list(session.scalars(select(CorrectionRow.correction_id)))
        return tickets, corrections
    finally:
        store.close()


def committed(env: StreamEnv, group_id: str, topics: list[str]) -> int:
    """Sum of ``group_id``'s committed offsets on ``topics``: how many events it acked.

    A consumer that never subscribes does not join the group, so reading cannot move it.
    """
    reader = Consumer({"bootstrap.servers": env.stack.kafka_bootstrap, "group.id": group_id})
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        return sum(max(0, tp.offset) for tp in reader.committed(parts, timeout=10))
    finally:
        reader.close()


def publish(env: StreamEnv, records: list[tuple[str, str, bytes]]) -> None:
    producer = env.producer()
    for topic, key, value in records:
        producer.produce(topic, value, key.encode())  # type: ignore[attr-defined]
    assert producer.flush(30) == 0  # type: ignore[attr-defined]


def decisions_for(env: StreamEnv, ids: list[str], label: str) -> list[tuple[str, str, bytes]]:
    out = []
    for i, tid in enumerate(ids):
        band = BANDS[i % len(BANDS)]
        event = decision(tid, label, band=band, body=f"my card {tid} was declined")
        out.append((getattr(env.topics, band), tid, event.model_dump_json().encode()))
    return out


@pytest.mark.integration
@pytest.mark.slow
def test_database_outage_pauses_the_recorder_and_loses_nothing(
    stream_env: StreamEnv,
    pg_database_factory: Callable[[], PgDatabase],
    learner_factory: Callable[..., WorkerProcess],
    tfidf_model_dir: Path,
) -> None:
    """The learner's PostgreSQL database refuses every connection for 14 s while decisions and
    corrections flow: the learner stays up, acks nothing, and stores each event once after.

    On the old code the first failed store call (or the retrain trigger's count) crashed the
    service, so every outage became a crash loop for its supervisor.
    """
    db = pg_database_factory()
    learner = learner_factory(db.url, TRIAGE_RETRAIN_AFTER="1000", TRIAGE_TRIGGER_POLL_S="1")
    learner.wait_ready(timeout_s=90)
    group = f"learner-{stream_env.group_id}"
    bands = list(stream_env.topics.bands)
    decided, corrected = read_manifest(tfidf_model_dir).labels[:2]
    before = [f"B-{i}" for i in range(20)]
    publish(stream_env, decisions_for(stream_env, before, decided))
    wait_for("20 decisions stored", lambda: len(stored(db.url)[0]) == 20, learner, 60)
    wait_for(
        "20 decisions committed", lambda: committed(stream_env, group, bands) == 20, learner, 30
    )

    assert db.block() >= 1, "the learner held no connection to end"
    during = [f"D-{i}" for i in range(20)]
    fixes = [
        correction(tid, corrected, correction_id=f"fix-{tid}").model_dump_json().encode()
        for tid in before
    ]
    publish(
        stream_env,
        [
            *decisions_for(stream_env, during, decided),
            *[
                (stream_env.topics.corrections, tid, v)
                for tid, v in zip(before, fixes, strict=True)
            ],
        ],
    )
    outage_end = time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_end:
        assert_alive(learner, "during the outage")
        time.sleep(0.5)
    assert committed(stream_env, group, bands) == 20, "offsets moved while nothing was stored"
    assert committed(stream_env, group, [stream_env.topics.corrections]) == 0
    db.unblock()

    wait_for(
        "every event stored after the outage",
        lambda: tuple(map(len, stored(db.url))) == (40, 20),
        learner,
        60,
    )
    tickets, corrections = stored(db.url)
    assert sorted(tickets) == sorted(before + during)
    assert sorted(corrections) == sorted(f"fix-{tid}" for tid in before)
    wait_for("offsets committed", lambda: committed(stream_env, group, bands) == 40, learner, 30)
    log = learner.log.read_text("utf-8", "replace")
    assert "the store is unavailable" in log, "an outage must be logged loudly"
    assert "TRIAGE_STORE_RETRY_S" in log, "the log must name the setting that bounds the pause"
    assert log.count("Worker]: Ready") == 1, "the learner restarted instead of pausing"
    assert log.count("Elected group leader") == 1, "heartbeats stopped: the group was rejoined"
    assert learner.stop() == 0, learner.tail()


def flaky(failures: int, exc: Exception) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return "stored"

    return call, calls


def test_store_retry_waits_out_an_outage_gives_up_after_the_setting_and_skips_statement_errors(
    tmp_path: Path,
) -> None:
    """The retry policy itself, in milliseconds: the drill above shows it in the service."""
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))

    def stage(give_up_s: float) -> RecordStage:
        return RecordStage(
            store=store,
            topics=Topics("unit."),
            labels=list,
            executor=ThreadPoolExecutor(max_workers=1),
            retry=StoreRetry(give_up_s=give_up_s, first_delay_s=0.01, max_delay_s=0.02),
        )

    call, calls = flaky(3, refused)
    assert asyncio.run(stage(5.0).store_call(call)) == "stored"
    assert len(calls) == 4
    call, calls = flaky(10**6, refused)
    with pytest.raises(StoreUnavailable, match=r"TRIAGE_STORE_RETRY_S=0\.2"):
        asyncio.run(stage(0.2).store_call(call))
    assert len(calls) > 2
    bad_sql = IntegrityError("INSERT", {}, Exception("duplicate key"))
    call, calls = flaky(1, bad_sql)
    with pytest.raises(IntegrityError):  # a statement's fault: retrying cannot help
        asyncio.run(stage(5.0).store_call(call))
    assert len(calls) == 1
    store.close()


# -- killed mid-training ------------------------------------------------------------------------

#: Gold rows for a TF-IDF fit of a few seconds on a shared 2-core machine: long enough to be
#: killed in, short enough for the retrain after the restart to finish well within the test.
GOLD_ROWS = 8000


def write_gold(gold_dir: Path, sample_dir: Path) -> list[tuple[str, str]]:
    """A real gold set of GOLD_ROWS distinct tickets: the sample's, each reworded with a few
    words from other tickets of its own team plus a reference number, as real tickets vary.
    Returns the held-back sample test tickets (text, team) to correct with."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    test_texts, test_labels = read_sample(sample_dir / "banking77_test.csv")
    rng = random.Random(10)
    by_team: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_team.setdefault(label, []).extend(text.split())
    rows, row_labels = list(texts), list(labels)
    for i in range(GOLD_ROWS - len(texts)):
        base, label = texts[i % len(texts)], labels[i % len(texts)]
        extra = " ".join(rng.choice(by_team[label]) for _ in range(3))
        rows.append(f"{base} {extra} ref {i}")
        row_labels.append(label)
    GoldSet(
        train=LabelledData(rows, row_labels, "gold"),
        test=LabelledData(test_texts[:200], test_labels[:200], "gold-test"),
    ).write(gold_dir)
    return list(zip(test_texts[200:], test_labels[200:], strict=True))


def seed_corrections(url: str, tickets: list[tuple[str, str]], labels: list[str]) -> int:
    """Decided tickets and a reviewer's correction of each, as the recorder would store them."""
    store = Store.open(url)
    try:
        for i, (text, team) in enumerate(tickets):
            store.add_decision(decision(f"K-{i}", labels[0], body=text))
            store.add_correction(correction(f"K-{i}", team, correction_id=f"k-{i}"), labels)
        return store.unused_corrections_count()
    finally:
        store.close()


def runs(url: str) -> list[TrainingRunRow]:
    store = Store.open(url, upgrade=False)
    try:
        with store.session() as session:
            return list(session.scalars(select(TrainingRunRow).order_by(TrainingRunRow.id)))
    finally:
        store.close()


def pointer(env: StreamEnv) -> tuple[str, Path] | None:
    import redis

    from bus import read_pointer

    with redis.Redis.from_url(env.stack.redis_url) as client:
        found = read_pointer(client, env.topics.prefix)
    return None if found is None else (found.version, found.model_dir)


@pytest.mark.integration
@pytest.mark.slow
def test_learner_killed_mid_training_deploys_nothing_and_next_run_is_clean(
    stream_env: StreamEnv,
    learner_factory: Callable[..., WorkerProcess],
    tfidf_model_dir: Path,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    """SIGKILL while a TF-IDF candidate trains on 8,000 gold rows: nothing is deployed, the
    pointer stays, and the restarted learner closes the dead run, sweeps the dead run's
    staging directory and retrains and deploys as usual.

    On the old code the dead run stayed open ('running': no outcome, no end) forever and a
    staging directory a kill left behind was never removed.
    """
    url = f"sqlite:///{tmp_path / 'store.db'}"
    labels = read_manifest(tfidf_model_dir).labels
    tickets = write_gold(tmp_path / "gold", sample_dir)[:40]
    assert seed_corrections(url, tickets, labels) >= 30
    pack = tmp_path / "pack.json"  # the drill is about crashes, not about how good models are
    pack.write_text(json.dumps({"min_macro_f1": 0, "min_accuracy": 0, "min_per_class_f1": 0}))
    env = dict(
        TRIAGE_RETRAIN_AFTER="30",
        TRIAGE_TRIGGER_POLL_S="0.5",
        TRIAGE_EVAL_PACK=str(pack),
        TRIAGE_MACRO_F1_MARGIN="1",
        TRIAGE_CLASS_F1_MARGIN="1",
    )
    models = tmp_path / "registry"
    learner = learner_factory(url, **env)
    wait_for("a training run to start", lambda: bool(runs(url)), learner, 90)
    learner.kill()

    (dead,) = runs(url)
    assert dead.outcome is None, "the kill came too late: the run had finished"
    assert dead.finished_at is None
    initial = read_manifest(tfidf_model_dir).version
    store = Store.open(url, upgrade=False)
    assert [(r.version, r.status) for r in registry.list_versions(store)] == [(initial, "deployed")]
    assert pointer(stream_env) == (initial, tfidf_model_dir.resolve())
    assert not [p for p in models.iterdir() if not p.name.startswith(".staging-")]
    # what a kill during the candidate's save leaves: weights written, no manifest yet
    partial = models / ".staging-deadbeef"
    shutil.copytree(tfidf_model_dir / "tfidf", partial / "tfidf")

    learner = learner_factory(url, **env)
    wait_for("a run to finish", lambda: any(r.outcome for r in runs(url)[1:]), learner, 90)
    first, second = runs(url)
    assert first.id == dead.id
    assert first.outcome == "failed", "the dead run was left open"
    assert first.finished_at is not None
    assert "interrupted" in (first.report or {}).get("error", "")
    assert second.outcome == "deployed", second.report
    deployed = registry.deployed(store)
    assert deployed is not None
    assert deployed.version == second.candidate_version
    assert pointer(stream_env) == (deployed.version, Path(deployed.model_dir).resolve())
    assert load(Path(deployed.model_dir), "cpu").labels
    assert not partial.exists(), "the dead run's staging directory was left behind"
    assert {p.name for p in models.iterdir()} == {deployed.version}
    assert store.unused_corrections_count() == 0
    store.close()
    assert learner.stop() == 0, learner.tail()

"""Scale-out and model swaps under faults: many workers in one group, kills mid-stream.

What every test here asserts is the worker's promise across a rebalance and a deploy: every
ticket gets exactly one decision content (re-deliveries byte-identical), so no ticket is
decided by two model versions, and the deployed model really is served afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from bus import ModelPointer, read_pointer, write_pointer
from ops.stack import StackInfo
from schemas.topics import Topics
from tests.fixtures.stack import StreamEnv, WorkerProcess, Workers, ticket_bytes
from tests.stream.test_worker import sample_texts

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.drill]

#: The README's default: the most workers of one group that help.
PARTITIONS = 8


def scale_env(stack: StackInfo, partitions: int = PARTITIONS) -> StreamEnv:
    """A test's own topics with ``partitions`` each (``stream_env`` makes 4)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    run = uuid.uuid4().hex[:12]
    env = StreamEnv(stack=stack, topics=Topics(prefix=f"s{run}."), group_id=f"scale-{run}")
    names = [env.topics.incoming, *env.topics.bands, env.topics.dead_letter]
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(timeout=10)
    return env


@dataclass
class BandReader:
    """Every record on the band topics, read once and kept (``StreamEnv.collect`` re-reads
    from the start on every call and only knows 4 partitions)."""

    env: StreamEnv
    partitions: int = PARTITIONS
    found: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    consumer: Any = None

    def __post_init__(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": self.env.stack.kafka_bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_BEGINNING)
                for topic in self.env.topics.bands
                for p in range(self.partitions)
            ]
        )

    def poll(self, seconds: float = 0.5) -> None:
        for msg in self.consumer.consume(num_messages=1000, timeout=seconds):
            if msg.error() is None:
                ticket_id = json.loads(msg.value())["ticket_id"]
                assert msg.key() == ticket_id.encode(), (msg.key(), ticket_id)
                self.found[ticket_id].append(msg.value())

    def until(
        self, done: Callable[[dict[str, list[bytes]]], bool], timeout_s: float, settle_s: float = 0
    ) -> bool:
        """Read until ``done(found)`` holds, then ``settle_s`` more for late duplicates."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done(self.found):
            self.poll()
        settle = time.monotonic() + settle_s
        while time.monotonic() < settle:
            self.poll()
        return done(self.found)

    def close(self) -> None:
        self.consumer.close()


def new_version(model_dir: Path, dest: Path, version: str) -> Path:
    """The same weights under another manifest version: a deploy the decisions can tell."""
    copy = Path(shutil.copytree(model_dir, dest))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = version
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def slow_loading(model_dir: Path, dest: Path, pad_terms: int = 400_000) -> Path:
    """A copy that decides exactly as ``model_dir`` but takes ~0.5 s to load, not ~5 ms.

    Padding the vocabulary with terms no ticket contains (zero weights, idf 1) leaves every
    score unchanged; the big vocabulary makes the load a window a kill can land in, as the
    product's transformer load (seconds) is.
    """
    import numpy as np

    copy = Path(shutil.copytree(model_dir, dest))
    files = copy / "tfidf"
    vocab = json.loads((files / "vocabulary.json").read_text("utf-8"))
    start = len(vocab)
    vocab.update({f"zzpad{i:07d}": start + i for i in range(pad_terms)})
    (files / "vocabulary.json").write_text(json.dumps(vocab), "utf-8")
    idf = np.load(files / "idf.npy")
    np.save(files / "idf.npy", np.concatenate([idf, np.ones(pad_terms)]))
    coef = np.load(files / "coef.npy")
    np.save(files / "coef.npy", np.hstack([coef, np.zeros((coef.shape[0], pad_terms))]))
    return copy


def linked_version(model_dir: Path, dest: Path, version: str) -> Path:
    """``new_version`` with the weights hard-linked: 35 MB per version would be copied."""
    copy = Path(shutil.copytree(model_dir, dest, copy_function=os.link))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = version
    (copy / "manifest.json").unlink()  # a link: writing through it would change the original
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def point(env: StreamEnv, version: str, model_dir: Path) -> None:
    """What ``learner.deploy.Announcer.point`` does, without a registry."""
    with redis.Redis.from_url(env.stack.redis_url) as client:
        pointer = ModelPointer(version, model_dir.resolve())
        write_pointer(client, env.namespace, pointer, only_if_unset=False)


def produce(env: StreamEnv, ids: list[str], texts: list[str]) -> None:
    producer: Any = env.producer()
    for i, tid in enumerate(ids):
        producer.produce(env.topics.incoming, key=tid, value=ticket_bytes(tid, texts[i % 400]))
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def versions_of(found: dict[str, list[bytes]]) -> dict[str, set[str]]:
    return {tid: {json.loads(c)["model_version"] for c in copies} for tid, copies in found.items()}


def assert_one_decision_each(found: dict[str, list[bytes]], ids: list[str], logs: str) -> None:
    """Nothing lost, copies byte-identical, and (said explicitly) one version per ticket."""
    missing = set(ids) - set(found)
    assert not missing, (
        f"{len(missing)} of {len(ids)} undecided, e.g. {sorted(missing)[:3]}\n{logs}"
    )
    differing = [tid for tid, copies in found.items() if len(set(copies)) != 1]
    assert not differing, f"{len(differing)} tickets got differing copies: {differing[:3]}"
    two = {tid: v for tid, v in versions_of(found).items() if len(v) != 1}
    assert not two, f"{len(two)} tickets decided by two versions: {list(two.items())[:3]}"


def wait_for_log(worker: WorkerProcess, marker: str, after: int, timeout_s: float) -> bool:
    """True once ``marker`` appears in the worker's log past byte ``after``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marker in worker.log.read_text("utf-8", "replace")[after:]:
            return True
        time.sleep(0.05)
    return False


def log_size(worker: WorkerProcess) -> int:
    return len(worker.log.read_text("utf-8", "replace"))


def first_to_log(
    workers: list[WorkerProcess], marker: str, after: dict[int, int], timeout_s: float
) -> WorkerProcess | None:
    """The first of ``workers`` whose log shows ``marker`` past its offset in ``after``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for worker in workers:
            if marker in worker.log.read_text("utf-8", "replace")[after[id(worker)] :]:
                return worker
        time.sleep(0.05)
    return None


def stamped(worker: WorkerProcess, after: int) -> list[tuple[datetime, str]]:
    """(time, text) of each log line past byte ``after`` that carries faust's timestamp."""
    lines = []
    for line in worker.log.read_text("utf-8", "replace")[after:].splitlines():
        if line.startswith("[") and len(line) > 25:
            try:
                lines.append((datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f"), line))
            except ValueError:
                continue
    return lines


def swapped_while_rebalancing(worker: WorkerProcess, after: int, version: str) -> bool:
    """Did ``worker`` swap to ``version`` after its partitions were revoked and before new
    ones were assigned (the window in which the group is rebalancing)?"""
    revoked = assigned = swapped = None
    for at, line in stamped(worker, after):
        if revoked is None and "Revoking previously assigned partitions" in line:
            revoked = at
        elif revoked is not None and assigned is None and "Setting newly assigned" in line:
            assigned = at
        if swapped is None and f"-> {version}" in line and "swapped model" in line:
            swapped = at
    if revoked is None or swapped is None:
        return False
    return revoked <= swapped and (assigned is None or swapped <= assigned)


def counters(env: StreamEnv) -> dict[str, int]:
    with redis.Redis.from_url(env.stack.redis_url) as client:
        raw = client.hgetall(f"triage:{env.namespace}counters")
    return {k.decode(): int(v) for k, v in raw.items()}


REVOKED = "Revoking previously assigned partitions"


@dataclass
class Rebalance:
    """What happened around the kill: counts when it struck, and log offsets to read from."""

    at_kill: int
    at_deploy: int
    offsets: dict[int, int]
    fourth: WorkerProcess
    seconds_to_rebalance: float


def kill_join_and_deploy(
    env: StreamEnv,
    reader: BandReader,
    workers: list[WorkerProcess],
    spawn: Callable[[], WorkerProcess],
    new: tuple[str, Path],
) -> Rebalance:
    """SIGKILL the first worker a quarter in, start a fourth, and move the pointer as soon as
    a survivor's partitions are revoked: the swap then lands while the group rebalances (tansu
    answers JoinGroup only after half the 6 s session timeout, so the window lasts seconds)."""
    assert reader.until(lambda f: len(f) >= 1250, timeout_s=120), "workers too slow to start"
    at_kill = len(reader.found)
    victim, survivors = workers[0], workers[1:]
    offsets = {id(w): log_size(w) for w in survivors}
    victim.kill()
    killed = time.monotonic()
    fourth = spawn()
    offsets[id(fourth)] = 0
    first = first_to_log(survivors, REVOKED, offsets, timeout_s=45)
    assert first is not None, "no rebalance within 45 s of the kill:\n" + first_tail(survivors)
    seconds = time.monotonic() - killed
    point(env, *new)
    reader.poll(0.1)
    return Rebalance(at_kill, len(reader.found), offsets, fourth, seconds)


def first_tail(workers: list[WorkerProcess]) -> str:
    return "\n".join(w.tail(15) for w in workers)


def test_three_workers_a_kill_a_join_and_a_deploy_during_the_rebalance(
    stack_info: StackInfo,
    tfidf_model_dir: Path,
    sample_dir: Path,
    tmp_path: Path,
    workers: Workers,
) -> None:
    """3 workers over 8 partitions, 5,000 tickets; one is SIGKILLed a quarter in, a fourth is
    started, and the model pointer moves while the group rebalances. Batches of 4 keep the
    stream going for tens of seconds, long enough to kill mid-stream."""
    total = 5000
    env = scale_env(stack_info)
    old = json.loads((tfidf_model_dir / "manifest.json").read_text())["version"]
    new = f"{old}-scale-v2"
    new_dir = new_version(tfidf_model_dir, tmp_path / "v2", new)
    ids = [f"S-{i}" for i in range(total)]
    produce(env, ids, sample_texts(sample_dir))
    began = time.monotonic()

    knobs = {"TRIAGE_BATCH_MAX": "4", "TRIAGE_MODEL_POLL_S": "0.2"}

    def spawn() -> WorkerProcess:
        return workers.start(env, tfidf_model_dir, TRIAGE_PARTITIONS=str(PARTITIONS), **knobs)

    group = [spawn() for _ in range(3)]
    for worker in group:
        worker.wait_ready(timeout_s=90)
    reader = BandReader(env)
    try:
        seen = kill_join_and_deploy(env, reader, group, spawn, (new, new_dir))
        seen.fourth.wait_ready(timeout_s=90)
        reader.until(lambda f: len(f) >= total, timeout_s=150, settle_s=3.0)
    finally:
        reader.close()
    workers.stop_all()

    assert_one_decision_each(reader.found, ids, first_tail(workers.started))
    by_version = Counter(json.loads(c[0])["model_version"] for c in reader.found.values())
    assert set(by_version) == {old, new}, by_version
    assert seen.at_kill < total, "every ticket was decided before the kill"
    assert group[0].exit_codes == [-9]
    assert all(w.exit_codes == [0] for w in [*group[1:], seen.fourth]), first_tail(workers.started)
    survivors = [*group[1:], seen.fourth]
    assert any(swapped_while_rebalancing(w, seen.offsets[id(w)], new) for w in group[1:]), (
        "no survivor swapped between revocation and assignment:\n" + first_tail(group[1:])
    )
    fourth_log = seen.fourth.log.read_text("utf-8", "replace")
    assert f"-> {new}" in fourth_log or f"serving the deployed model {new}" in fourth_log
    stats = counters(env)
    copies = sum(len(c) for c in reader.found.values())
    print(
        f"\nscale: {len(reader.found)}/{total} decided in {time.monotonic() - began:.0f} s; "
        f"killed at {seen.at_kill}, rebalance {seen.seconds_to_rebalance:.1f} s later, pointer "
        f"moved at {seen.at_deploy}; {dict(by_version)}; {copies - total} identical copies on "
        f"the topics, {stats.get('duplicates', 0)} re-deliveries skipped as already published; "
        f"survivor exits {[w.exit_codes for w in survivors]}"
    )


@dataclass(frozen=True)
class KillRound:
    version: str
    delay_s: float
    swap_done: bool  # did the killed worker log the swap before it died?
    decided_at_kill: int


def kill_during_swap(
    env: StreamEnv,
    reader: BandReader,
    worker: WorkerProcess,
    version: tuple[str, Path],
    delay_s: float,
) -> KillRound:
    """Move the pointer, SIGKILL the worker ``delay_s`` later, and record whether it had
    finished swapping (if not, it died while polling or loading)."""
    progress = len(reader.found) + 100
    assert reader.until(lambda f: len(f) >= progress, timeout_s=60), worker.tail()
    offset = log_size(worker)
    point(env, *version)
    time.sleep(delay_s)
    worker.kill()
    swapped = f"-> {version[0]}" in worker.log.read_text("utf-8", "replace")[offset:]
    reader.poll(0.1)
    return KillRound(version[0], delay_s, swapped, len(reader.found))


def test_worker_killed_during_a_model_swap_loses_nothing(
    stack_info: StackInfo,
    tfidf_model_dir: Path,
    sample_dir: Path,
    tmp_path: Path,
    workers: Workers,
) -> None:
    """Issue 10's drill: the pointer moves and the worker is SIGKILLed while it polls, loads
    or swaps (four rounds, kills spread over the ~0.5 s load and past it), then restarted.
    Nothing is lost, copies are identical, and the last restart serves the pointer's model."""
    total, poll_s = 2000, 0.05
    env = scale_env(stack_info)
    old = json.loads((tfidf_model_dir / "manifest.json").read_text())["version"]
    padded = slow_loading(tfidf_model_dir, tmp_path / "padded")
    from models.artifact import load

    began = time.monotonic()
    load(padded, "cpu")
    load_s = time.monotonic() - began
    ids = [f"K-{i}" for i in range(total)]
    produce(env, ids, sample_texts(sample_dir))
    knobs = {"TRIAGE_BATCH_MAX": "4", "TRIAGE_MODEL_POLL_S": str(poll_s)}

    def spawn() -> WorkerProcess:
        worker = workers.start(env, tfidf_model_dir, TRIAGE_PARTITIONS=str(PARTITIONS), **knobs)
        worker.wait_ready(timeout_s=90)
        return worker

    reader = BandReader(env)
    rounds: list[KillRound] = []
    try:
        worker = spawn()
        for k, share in enumerate((0.0, 0.5, 1.0, 3.0)):
            version = f"{old}-kill-swap-{k}"
            target = (version, linked_version(padded, tmp_path / version, version))
            rounds.append(kill_during_swap(env, reader, worker, target, poll_s + share * load_s))
            worker = spawn()
        reader.until(lambda f: len(f) >= total, timeout_s=120, settle_s=3.0)
        markers = [f"M-{i}" for i in range(20)]
        produce(env, markers, sample_texts(sample_dir))
        reader.until(lambda f: all(m in f for m in markers), timeout_s=60)
    finally:
        reader.close()
    worker.stop()

    assert rounds[-1].decided_at_kill < total, "the stream ended before the last kill"
    assert_one_decision_each(reader.found, [*ids, *markers], first_tail(workers.started))
    with redis.Redis.from_url(env.stack.redis_url) as client:
        pointer = read_pointer(client, env.namespace)
    assert pointer is not None
    assert pointer.version == rounds[-1].version
    versions = versions_of(reader.found)
    assert {v for m in markers for v in versions[m]} == {pointer.version}
    served = {v for vs in versions.values() for v in vs}
    assert served <= {old, *(r.version for r in rounds)}, served
    assert not all(r.swap_done for r in rounds), f"every kill came after the swap: {rounds}"
    print(
        f"\nkill-swap: load {load_s:.2f} s; rounds "
        + "; ".join(
            f"kill {r.delay_s:.2f} s after the pointer, swap "
            f"{'done' if r.swap_done else 'not done'}, {r.decided_at_kill} decided"
            for r in rounds
        )
        + f"; served {sorted(served)}; {time.monotonic() - began:.0f} s"
    )

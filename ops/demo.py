"""`triage demo` (what `make demo` runs): the whole streaming path on a laptop, then stop.

Stack up -> starter model (trained once from the shipped sample) -> worker subprocess ->
publish the sample test tickets -> read the band topics until every ticket is decided -> print
decisions per band and accuracy against the sample's `team` column -> stop what it started,
also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import click

from ops.exceptions import OpsError
from ops.processes import PARTITIONS, start_worker, stop_process, worker_topics
from ops.stack import EmbeddedStack, StackInfo
from schemas import BANDS, Decision, Topics

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "data/sample/banking77_train.csv"
TEST = REPO / "data/sample/banking77_test.csv"
DECIDE_TIMEOUT_S = 300.0
EXAMPLES = 3


def run_demo(var_dir: Path, *, limit: int | None = None) -> None:
    stack = EmbeddedStack(var_dir)
    info, started = stack.start()
    click.echo(f"stack {'started' if started else 'already up'}: kafka {info.kafka_bootstrap}")
    worker: subprocess.Popen[bytes] | None = None
    try:
        model_dir = starter_model(stack.var_dir / "models" / "starter")
        run = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:4]
        topics = Topics(
            prefix=f"demo{run}."
        )  # a fresh run is never deduplicated against an old one
        asyncio.run(create_topics(info.kafka_bootstrap, topics))
        worker = start_worker(
            info,
            topics,
            model_dir,
            stack.var_dir,
            group_id=f"demo-{run}",
            log_name="demo-worker.log",
        )
        click.echo(f"worker started (pid {worker.pid}, log {stack.var_dir / 'demo-worker.log'})")
        expected = publish(info, topics, limit)
        decisions = asyncio.run(read_decisions(info.kafka_bootstrap, topics, set(expected), worker))
        report(decisions, expected)
    finally:
        if worker is not None:
            click.echo(f"worker stopped (exit {stop_process(worker)})")
        if started:
            stack.stop()
            click.echo("stack stopped")


def starter_model(model_dir: Path) -> Path:
    """Train the starter LoRA model once with `triage train`; later runs reuse it."""
    if (model_dir / "manifest.json").is_file():
        click.echo(f"starter model: {model_dir} (delete it to retrain)")
        return model_dir
    click.echo(f"training a starter model into {model_dir} (once; a few minutes on a CPU) ...")
    argv = [
        sys.executable, "-P", "-m", "ops.cli", "train", str(TRAIN),
        "--text-col", "text", "--label-col", "team", "--out", str(model_dir),
        "--epochs", "2", "--max-length", "64",
    ]  # fmt: skip
    result = subprocess.run(argv, check=False)
    if result.returncode != 0:
        if (model_dir / "manifest.json").is_file():
            click.echo("the starter model missed an eval gate; the demo serves it anyway", err=True)
        else:
            raise OpsError(
                f"`triage train` failed (exit {result.returncode}) and wrote no model to "
                f"{model_dir}; see its output above"
            )
    return model_dir


async def create_topics(bootstrap: str, topics: Topics) -> None:
    """Up front, so the demo can read the band topics from offset 0 before the first decision."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in worker_topics(topics)])
    finally:
        await admin.close()


def publish(info: StackInfo, topics: Topics, limit: int | None) -> dict[str, dict[str, str]]:
    """Publish the sample test file; returns ticket_id -> row (for the accuracy check)."""
    from bus import KafkaSecurity, ProducerConfig
    from models import progress_bar
    from stream import Columns
    from stream import produce_stream as produce

    with TEST.open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    with progress_bar(total=len(rows), unit="ticket", desc="publishing") as bar:
        result = produce(
            TEST,
            config=ProducerConfig(info.kafka_bootstrap, KafkaSecurity()),
            topic=topics.incoming,
            columns=Columns(text="text"),
            limit=len(rows),
            on_sent=bar.update,
        )
    if result.problems:
        click.echo("\n".join(result.problems), err=True)
    # produce() numbers rows from 1 when the file has no id column
    return {f"{TEST.stem}-{i}": row for i, row in enumerate(rows, start=1)}


async def read_decisions(
    bootstrap: str, topics: Topics, expected: set[str], worker: subprocess.Popen[bytes]
) -> dict[str, Decision]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, Decision] = {}
    try:
        consumer.assign([TopicPartition(t, p) for t in topics.bands for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + DECIDE_TIMEOUT_S
        with click.progressbar(length=len(expected), label="decided") as bar:
            while not expected <= found.keys():
                if worker.poll() is not None:
                    raise OpsError(f"the worker exited ({worker.returncode}); see its log")
                if time.monotonic() > deadline:
                    raise OpsError(
                        f"{len(expected - found.keys())} tickets undecided after "
                        f"{DECIDE_TIMEOUT_S:.0f} s; see the worker log"
                    )
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        decision = Decision.model_validate_json(record.value)
                        if decision.ticket_id not in found:
                            bar.update(1)
                        found[decision.ticket_id] = decision
    finally:
        await consumer.stop()
    return found


def report(decisions: dict[str, Decision], rows: dict[str, dict[str, Any]]) -> None:
    by_band: dict[str, list[Decision]] = {band: [] for band in BANDS}
    for decision in decisions.values():
        by_band[decision.band].append(decision)
    total = len(decisions)
    version = next(iter(decisions.values())).model_version if decisions else "-"
    click.echo(f"\n{total} tickets decided by model {version}\n")
    for band, items in by_band.items():
        correct = sum(d.label == rows[d.ticket_id]["team"] for d in items)
        accuracy = f"{correct / len(items):.1%}" if items else "-"
        click.echo(
            f"{band:>7}: {len(items):4d} tickets ({len(items) / max(total, 1):.0%}), "
            f"accuracy vs team {accuracy}"
        )
        for d in sorted(items, key=lambda d: d.ticket_id)[:EXAMPLES]:
            text = d.body if len(d.body) <= 60 else d.body[:57] + "..."
            novel = " (novel: unlike training, so a person decides)" if d.novel else ""
            click.echo(f"           {d.confidence:.2f} {d.label:<18} {json.dumps(text)}{novel}")
    correct_all = sum(d.label == rows[d.ticket_id]["team"] for d in decisions.values())
    click.echo(f"\noverall accuracy vs team: {correct_all / max(total, 1):.1%}")
    click.echo(f"per label: {dict(Counter(d.label for d in decisions.values()).most_common())}")

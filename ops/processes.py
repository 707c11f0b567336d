"""The `triage` subprocesses (worker, learner) that the demo, the benchmarks and the simulation
run against the embedded stack: one way to start them, so each sees the stack's settings and
none of the caller's, and one way to stop them, so none outlives the run that started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ops.stack import StackInfo
from schemas import Topics

#: Partitions of every topic a benchmark or the demo creates; the worker is told the same.
PARTITIONS = 4
#: How long a terminated subprocess may take to exit before it is killed.
STOP_TIMEOUT_S = 30.0


def worker_topics(topics: Topics) -> list[str]:
    """What a worker reads and writes; created up front so a reader can start at offset 0."""
    return [topics.incoming, *topics.bands, topics.dead_letter]


def stack_env(info: StackInfo, topics: Topics, **settings: str) -> dict[str, str]:
    """This process's environment without its TRIAGE_* settings (a developer's .env must not
    point a run at another broker or database), then the stack's, the topics' and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(info.env(), TRIAGE_TOPIC_PREFIX=topics.prefix)
    env.update(settings)
    return env


def start_triage(
    args: list[str],
    env: dict[str, str],
    log: Path,
    *,
    cwd: Path | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """``triage ARGS`` with stdout and stderr in ``log`` (the child keeps its own handle).

    ``-P``: the child's cwd is not put on ``sys.path``, so a work directory holding a folder
    named like a package (the simulation's ``models/`` registry) cannot shadow the package."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "ops.cli", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_worker(
    info: StackInfo,
    topics: Topics,
    model_dir: Path,
    work: Path,
    *,
    group_id: str,
    log_name: str = "worker.log",
    cwd: Path | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """A quiet `triage worker` serving ``model_dir``; its faust state and log go under ``work``."""
    env = stack_env(
        info,
        topics,
        TRIAGE_GROUP_ID=group_id,
        TRIAGE_MODEL_DIR=str(model_dir),
        TRIAGE_PARTITIONS=str(PARTITIONS),
        TRIAGE_DATA_DIR=str(work / "faust"),
        **settings,
    )
    return start_triage(["worker", "--loglevel", "warning"], env, work / log_name, cwd=cwd)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Terminate, then kill what does not exit within ``timeout_s``; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)
    return proc.returncode

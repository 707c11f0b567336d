"""`triage stack up|down|status` through the CLI, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import psutil
import pytest

from ops.stack import EmbeddedStack, ServiceRecord, kafka_ready, redis_ready

pytestmark = pytest.mark.integration


def triage(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_up_is_idempotent_and_down_stops_exactly_what_up_started(tmp_path: Path) -> None:
    first = triage(tmp_path, "stack", "up")
    assert first.returncode == 0, first.stderr
    records = EmbeddedStack(tmp_path / "var").records()
    pids = {name: rec.pid for name, rec in records.items()}
    try:
        assert set(pids) == {"kafka", "redis"}
        assert "started" in first.stdout
        env = dict(
            line.split("=", 1) for line in (tmp_path / "var/stack.env").read_text().splitlines()
        )
        assert kafka_ready(env["TRIAGE_KAFKA_BOOTSTRAP"])
        assert redis_ready(env["TRIAGE_REDIS_URL"])
        assert env["TRIAGE_DATABASE_URL"].endswith("/var/triage.db")

        again = triage(tmp_path, "stack", "up")
        assert "already up" in again.stdout
        assert {n: r.pid for n, r in EmbeddedStack(tmp_path / "var").records().items()} == pids
        assert triage(tmp_path, "stack", "status").stdout.count("running") == 2
    finally:
        down = triage(tmp_path, "stack", "down")
    assert down.returncode == 0
    assert "kafka" in down.stdout
    assert "redis" in down.stdout
    assert not any(psutil.pid_exists(pid) and _alive(pid) for pid in pids.values())
    assert not (tmp_path / "var/stack.env").exists()
    assert "not running" in triage(tmp_path, "stack", "down").stdout


def test_down_leaves_a_recycled_pid_alone(tmp_path: Path) -> None:
    """A record whose pid now runs something else (pid reuse) must not be killed."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = tmp_path / "var/stack"
        state.mkdir(parents=True)
        record = ServiceRecord("kafka", stranger.pid, 0.0, ["/opt/tansu"], 1, "log")
        (state / "kafka.json").write_text(json.dumps(asdict(record)))
        assert EmbeddedStack(tmp_path / "var").stop() == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

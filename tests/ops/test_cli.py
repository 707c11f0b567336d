"""`triage` as a user runs it: no broker is one line that names the address and its setting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.stack import free_port


def triage(
    *args: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    "command",
    [["produce", "export.csv"], ["correct", "T-1", "cards", "--reviewer", "ana"]],
    ids=["produce", "correct"],
)
def test_no_broker_is_one_line_naming_the_address_and_setting(
    command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "export.csv").write_text("ticket_id,body\nT-1,my card was declined\n", "utf-8")
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env["TRIAGE_KAFKA_BOOTSTRAP"] = address

    done, elapsed = triage(*command, cwd=tmp_path, env=env)

    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1, done.stderr
    assert address in lines[0], lines[0]
    assert "TRIAGE_KAFKA_BOOTSTRAP" in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert "\r" not in done.stderr, "a progress bar redrew itself into a non-terminal"
    assert elapsed < 15, f"took {elapsed:.1f} s to say the broker is not there"

"""`triage web` refuses to start without what it needs, with a message saying what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import SECRET_KEY


def run(
    args: list[str], tmp_path: Path, *, timeout_s: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    return subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", *args],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_web_without_a_secret_key_says_what_to_set(tmp_path: Path) -> None:
    result = run(["web"], tmp_path)
    assert result.returncode == 2
    assert "TRIAGE_SECRET_KEY" in result.stderr


def test_web_without_users_says_how_to_add_them(tmp_path: Path) -> None:
    result = run(["web"], tmp_path, TRIAGE_SECRET_KEY=SECRET_KEY)
    assert result.returncode == 2
    assert "TRIAGE_WEB_USERS" in result.stderr


def test_new_token_prints_a_token_and_its_digest(tmp_path: Path) -> None:
    result = run(["web", "new-token"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.strip().splitlines())
    assert len(lines["sha256"].strip()) == 64

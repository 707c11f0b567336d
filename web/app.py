"""The web application: wiring of settings into services, security headers and routes.

``create_app`` takes typed objects (built once by ``triage web`` from :class:`WebSettings`), so
tests hand it a real store, redis and broker without touching the environment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from bus import (
    DeadLetterTail,
    DecisionCache,
    DriftBoard,
    KafkaSecurity,
    TopicGuard,
    consumer_lag,
    producer_config,
    readiness,
    redis_options,
    redis_ping,
)
from schemas import Topics
from store import DeployedLabels, FlagRule, Store, parse_window
from web import dashboard, errors
from web.auth import Directory, Sessions
from web.exceptions import ConfigError, WebError
from web.limits import BodyLimit
from web.metrics import Snapshot
from web.publish import CorrectionPublisher
from web.review import Reviews
from web.settings import WebSettings, secret_key_problem
from web.throttle import LoginThrottle

HERE = Path(__file__).resolve().parent

#: No inline script or style anywhere: a ticket body that smuggles markup past escaping still
#: cannot run. Everything is served from this origin; nothing may frame the pages.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: Two years, the preload list's minimum; sent only where the browser already reached us by TLS
#: (or ``TRIAGE_HSTS`` says a TLS proxy fronts us), since a browser ignores it over plain HTTP.
HSTS = "max-age=63072000; includeSubDomains"


@dataclass
class Services:
    """What the routes use; one per app."""

    store: Store
    redis_url: str
    reviews: Reviews
    tail: DeadLetterTail
    publisher: CorrectionPublisher
    directory: Directory
    sessions: Sessions
    throttle: LoginThrottle
    topics: Topics
    kafka_bootstrap: str
    kafka_security: KafkaSecurity
    redis_options: dict[str, Any]
    worker_group_id: str
    partitions: int

    metrics_refresh_s: float = 30.0
    precision_window: timedelta = timedelta(days=7)
    #: when a reviewer is flagged (the dashboard) and held from then on (a verdict)
    flag_rule: FlagRule = field(default_factory=FlagRule)

    redis: aioredis.Redis | None = None
    broker_probe: TopicGuard | None = None
    metrics_cache: tuple[float, Snapshot] | None = None
    metrics_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        """Async clients are made here, inside the serving loop they will run on."""
        self.redis = aioredis.Redis.from_url(self.redis_url, **self.redis_options)
        self.reviews.redis = self.sessions.redis = self.throttle.redis = self.redis
        await self.publisher.start()
        self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()
        await self.publisher.stop()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.broker_probe is not None:
            await self.broker_probe.close()

    async def lag(self) -> list[Any]:
        return await consumer_lag(
            self.kafka_bootstrap,
            self.kafka_security,
            self.topics.incoming,
            self.partitions,
            self.worker_group_id,
        )

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """The database, redis, the broker and a deployed model, each named when it fails."""
        if self.broker_probe is None:
            self.broker_probe = TopicGuard(
                bootstrap=self.kafka_bootstrap,
                security=self.kafka_security,
                names=[],
                partitions=self.partitions,
                replication=1,
                create=False,
            )

        async def database() -> str:
            return f"{await asyncio.to_thread(self.store.count_corrections)} corrections"

        async def model() -> str:
            record = await asyncio.to_thread(self.store.deployed_model)
            if record is None:
                raise WebError("no model is deployed: run `triage init`")
            return record.version

        assert self.redis is not None, "services not started"
        checks = {"database": database, "redis": redis_ping(self.redis), "model": model}
        return await readiness({**checks, "broker": self.broker_probe.reachable})

    async def worker_counters(self) -> dict[str, int]:
        assert self.redis is not None, "services not started"
        return await DecisionCache(self.redis, namespace=self.topics.prefix, ttl_s=1).counters()

    async def dashboard(self) -> dict[str, Any]:
        assert self.redis is not None, "services not started"
        drift = await DriftBoard(self.redis, namespace=self.topics.prefix).summaries()
        stored, lag, counters = await asyncio.gather(
            asyncio.to_thread(
                dashboard.snapshot, self.store, datetime.now(UTC), self.flag_rule, drift
            ),
            self.lag(),
            self.worker_counters(),
        )
        return {
            **stored,
            "lag": {
                "topic": self.topics.incoming,
                "group_id": self.worker_group_id,
                "partitions": [
                    {
                        "partition": p.partition,
                        "high_watermark": p.high_watermark,
                        "committed": p.committed,
                        "lag": p.lag,
                    }
                    for p in lag
                ],
                "total": sum(p.lag for p in lag),
            },
            "dead_letters": {
                "total": self.tail.total,
                "by_kind": dict(self.tail.counts),
                "latest": [
                    {
                        "reason": d.reason,
                        "stage": d.stage,
                        "topic": d.topic,
                        "partition": d.partition,
                        "offset": d.offset,
                        "received_at": d.received_at.isoformat(),
                    }
                    for d in list(self.tail.latest)[:10]
                ],
            },
            "worker_counters": counters,
        }

    async def metrics(self) -> Snapshot:
        """The last snapshot if it is younger than ``metrics_refresh_s``, else a new one: the
        store's aggregates scan the decision table, which a scrape every few seconds (from
        several Prometheus replicas) must not do each time."""
        async with self.metrics_lock:
            cached = self.metrics_cache
            if cached is not None and time.monotonic() - cached[0] < self.metrics_refresh_s:
                return cached[1]
            snapshot = await self._snapshot()
            self.metrics_cache = (time.monotonic(), snapshot)
            return snapshot

    async def _snapshot(self) -> Snapshot:
        since = datetime.now(UTC) - self.precision_window

        def from_store() -> tuple[Any, ...]:
            current = self.store.deployed_model()
            bands = self.store.band_precision(since=since).bands
            return (
                self.store.decision_counts(),
                self.store.latency_histogram(),
                self.store.correction_counts(),
                self.store.run_counts(),
                current.version if current else None,
                {band: (p.reviewed, p.correct) for band, p in bands.items()},
            )

        stored, lag, counters = await asyncio.gather(
            asyncio.to_thread(from_store), self.lag(), self.worker_counters()
        )
        decisions, latency, corrections, runs, version, reviews = stored
        return Snapshot(
            decisions=decisions,
            latency=latency,
            lag_topic=self.topics.incoming,
            lag=lag,
            dead_letters=dict(self.tail.counts),
            corrections=corrections,
            runs=runs,
            model_version=version,
            worker_counters=counters,
            band_reviews=reviews,
        )


def build_services(settings: WebSettings, store: Store) -> Services:
    topics = Topics(settings.topic_prefix)
    publisher = CorrectionPublisher(producer_config(settings), topics.corrections)
    security = KafkaSecurity.from_settings(settings)
    deployed = DeployedLabels(store, settings.model_dir)
    # redis (None here) is set when the app starts, bound to its event loop
    reviews = Reviews(
        store,
        None,
        publisher,
        topics.prefix,
        deployed,
        claim_ttl_s=settings.claim_ttl_s,
        per_label_cap=settings.queue_per_label_cap,
        heads=deployed.describe,
    )
    return Services(
        store=store,
        redis_url=settings.redis_url,
        reviews=reviews,
        tail=DeadLetterTail(settings.kafka_bootstrap, security, topics.dead_letter),
        publisher=publisher,
        directory=Directory(settings.web_users, settings.web_tokens),
        sessions=Sessions(None, topics.prefix, settings.session_max_age_s),
        throttle=throttle(settings),
        topics=topics,
        kafka_bootstrap=settings.kafka_bootstrap,
        kafka_security=security,
        redis_options=redis_options(settings),
        worker_group_id=settings.worker_group_id,
        flag_rule=settings.flag_rule(),
        partitions=settings.partitions,
        metrics_refresh_s=settings.metrics_refresh_s,
        precision_window=parse_window(settings.precision_window),
    )


def throttle(settings: WebSettings) -> LoginThrottle:
    """The sign-in throttle (also what ``triage web unlock`` talks to)."""
    return LoginThrottle(
        redis=None,
        namespace=Topics(settings.topic_prefix).prefix,
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_s=settings.login_window_s,
        lockout_s=settings.login_lockout_s,
    )


def create_app(
    services: Services, settings: WebSettings, *, bound_host: str | None = None
) -> FastAPI:
    """``bound_host`` (default ``settings.host``) decides whether cookies default to Secure."""
    from web import api, corrections, held, pages, try_page

    secret_key = settings.secret_key
    problem = secret_key_problem(secret_key.get_secret_value())
    if problem is not None:  # settings check this too; an app built another way must not skip it
        raise ConfigError(f"TRIAGE_SECRET_KEY {problem}")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="Ticket triage",
        summary="Review queue and ops API of the streaming ticket triage system.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI needs a CDN and inline script; the CSP allows neither
        redoc_url=None,
        openapi_url="/api/openapi.json",
        exception_handlers=errors.handlers(),  # one error model (web.errors.ErrorOut)
    )
    app.state.services = services
    always_hsts = settings.hsts
    # Added first, so innermost: its 413 still passes the security headers below.
    app.add_middleware(BodyLimit, max_bytes=settings.web_max_body_bytes)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if always_hsts or request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key.get_secret_value(),
        session_cookie=api.SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.cookies_secure(bound_host or settings.host),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(corrections.router)
    app.include_router(held.router)
    try_page.mount(app, services.store, settings.model_dir)
    return app

"""`triage web`: serve the review queue, the ops dashboard, the JSON API and /metrics.

Heavy imports (FastAPI, uvicorn, SQLAlchemy) happen inside the commands so `triage --help`
stays instant. Settings are read once here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from web.settings import WebSettings


def _settings() -> WebSettings:
    """The web's settings, or a ConfigError naming the bad value and how to fix it."""
    from pydantic import ValidationError

    from web.exceptions import ConfigError
    from web.settings import WebSettings

    try:
        return WebSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(
            f"web settings are invalid: {where}: {first['msg']}; "
            "TRIAGE_SECRET_KEY must be a long random string and TRIAGE_WEB_USERS holds hashes "
            "(`triage web hash-password` makes them)"
        ) from exc


@click.group("web", invoke_without_command=True)
@click.option("--host", default=None, help="bind address [settings: TRIAGE_HOST]")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="port [settings: TRIAGE_PORT]"
)
@click.pass_context
def web_group(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the review queue and ops dashboard (and /metrics, /api/*)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from bus import logging_config
    from store import Store
    from web.app import build_services, create_app
    from web.exceptions import ConfigError

    settings = _settings()
    if not settings.web_users and not settings.web_tokens:
        raise ConfigError(
            "no users or API tokens are configured, so nobody could sign in; set "
            'TRIAGE_WEB_USERS=\'{"ana": {"password_hash": "...", "role": "reviewer"}}\''
        )
    store = Store.open(settings.database_url)
    bound_host = host or settings.host
    app = create_app(build_services(settings, store), settings, bound_host=bound_host)
    log_config = logging_config("web", settings.log_format)
    try:
        uvicorn.run(
            app,
            host=bound_host,
            port=port or settings.port,
            proxy_headers=False,
            server_header=False,
            log_level="info",
            log_config=log_config,
        )
    finally:
        store.close()


@web_group.command("hash-password")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="the password; asked for (twice, hidden) when not given",
)
def hash_password_command(password: str) -> None:
    """Print an scrypt hash of a password for TRIAGE_WEB_USERS."""
    from web.auth import hash_password

    click.echo(hash_password(password))


@web_group.command("new-token")
def new_token_command() -> None:
    """Print a new API token (give it to the client) and its SHA-256 (for TRIAGE_WEB_TOKENS)."""
    from web.auth import new_token

    token, digest = new_token()
    click.echo(f"token:  {token}")
    click.echo(f"sha256: {digest}")


@web_group.command("unlock")
@click.option("--user", "users", multiple=True, help="user name locked by wrong passwords")
@click.option("--address", "addresses", multiple=True, help="client address locked likewise")
def unlock_command(users: tuple[str, ...], addresses: tuple[str, ...]) -> None:
    """Lift sign-in locks; without options, list the current ones."""
    settings = _settings()

    async def run() -> None:
        import redis.asyncio as aioredis

        from web.app import throttle

        limiter = throttle(settings)
        limiter.redis = aioredis.Redis.from_url(settings.redis_url)
        try:
            if not users and not addresses:
                for kind, value, ttl in await limiter.locks():
                    click.echo(f"{kind}\t{value}\t{ttl}s left")
                return
            wanted = [("user", u) for u in users] + [("addr", a) for a in addresses]
            for kind, value in wanted:
                lifted = await limiter.unlock(kind, value)
                click.echo(f"{kind} {value}: {'unlocked' if lifted else 'was not locked'}")
        finally:
            await limiter.redis.aclose()

    asyncio.run(run())


@web_group.command("sign-out")
@click.argument("user")
def sign_out_command(user: str) -> None:
    """End every session of USER on every replica (a leaked cookie or a lost laptop)."""
    settings = _settings()

    async def run() -> int:
        import redis.asyncio as aioredis

        from schemas import Topics
        from web.auth import Sessions

        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            sessions = Sessions(client, Topics(settings.topic_prefix).prefix, 1)
            return await sessions.end_all(user)
        finally:
            await client.aclose()

    click.echo(f"ended {asyncio.run(run())} session(s) of {user}")


COMMANDS: list[click.Command] = [web_group]

"""`triage web`: serve the review queue, the ops dashboard, the JSON API and /metrics.

Heavy imports (FastAPI, uvicorn, SQLAlchemy) happen inside the commands so `triage --help`
stays instant. Settings are read once here.
"""

from __future__ import annotations

import click


@click.group("web", invoke_without_command=True)
@click.option("--host", default=None, help="bind address [settings: TRIAGE_HOST]")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="[TRIAGE_PORT]")
@click.pass_context
def web_group(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the review queue and ops dashboard (and /metrics, /api/*)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn
    from pydantic import ValidationError

    from learner.store import Store
    from web.app import build_services, create_app
    from web.exceptions import ConfigError
    from web.settings import WebSettings

    try:
        settings = WebSettings()
    except ValidationError as exc:
        raise ConfigError(
            f"web settings are invalid: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}; "
            "set TRIAGE_SECRET_KEY (a long random string) and TRIAGE_WEB_USERS "
            "(`triage web hash-password` makes the hashes)"
        ) from exc
    if not settings.web_users and not settings.web_tokens:
        raise ConfigError(
            "no users or API tokens are configured, so nobody could sign in; set "
            'TRIAGE_WEB_USERS=\'{"ana": {"password_hash": "...", "role": "reviewer"}}\''
        )
    store = Store.open(settings.database_url)
    app = create_app(
        build_services(settings, store),
        secret_key=settings.secret_key.get_secret_value(),
        secure_cookies=settings.secure_cookies,
        session_max_age_s=settings.session_max_age_s,
    )
    try:
        uvicorn.run(
            app,
            host=host or settings.host,
            port=port or settings.port,
            proxy_headers=False,
            server_header=False,
            log_level="info",
        )
    finally:
        store.close()


@web_group.command("hash-password")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
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


COMMANDS: list[click.Command] = [web_group]

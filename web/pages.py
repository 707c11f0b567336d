"""Server-rendered pages. Data arrives as JSON and is drawn by static JS with ``textContent``;
templates are autoescaped and never mark user data safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.auth import Principal, csrf_ok, csrf_token, principal

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def _page(request: Request, name: str, who: Principal | None, **context: Any) -> Response:
    return templates.TemplateResponse(
        request, name, {"who": who, "csrf_token": csrf_token(request), **context}
    )


async def _who(request: Request) -> Principal | None:
    services = request.app.state.services
    return await principal(request, services.directory, services.sessions)


async def _signed_in_page(request: Request, name: str) -> Response:
    """A page only for the signed in; anyone else is sent to sign in first."""
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", 303)
    return _page(request, name, who)


def _locked_out(request: Request, wait_s: int) -> Response:
    """429 saying when to retry: the page in words, ``Retry-After`` for clients."""
    at = (datetime.now(UTC) + timedelta(seconds=wait_s)).strftime("%H:%M UTC")
    minutes = max(1, -(-wait_s // 60))
    error = (
        f"Too many sign-in attempts for this user name or from this address. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''} (after {at}), or ask an admin to run "
        "`triage web unlock`."
    )
    response = _page(request, "login.html", None, error=error)
    response.status_code = 429
    response.headers["Retry-After"] = str(wait_s)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/queue" if who.can_review else "/dashboard", 303)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _page(request, "login.html", None, error=None)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    if not csrf_ok(request, csrf_token_field):
        return _page(request, "login.html", None, error="The form expired; try again.")
    services = request.app.state.services
    address = request.client.host if request.client else "unknown"
    wait_s = await services.throttle.attempt(username, address)
    if wait_s:
        return _locked_out(request, wait_s)
    who = await asyncio.to_thread(services.directory.sign_in, username, password)
    if who is None:
        response = _page(request, "login.html", None, error="Wrong user name or password.")
        response.status_code = 401
        return response
    await services.throttle.succeeded(username, address)
    await services.sessions.open(request, who.name)
    return RedirectResponse("/queue" if who.can_review else "/dashboard", 303)


@router.post("/logout")
async def logout(
    request: Request, csrf_token_field: Annotated[str, Form(alias="csrf_token")] = ""
) -> Response:
    if not csrf_ok(request, csrf_token_field):
        return Response("missing or wrong CSRF token", 403)
    await request.app.state.services.sessions.close(request)
    return RedirectResponse("/login", 303)


@router.get("/queue")
async def queue_page(request: Request) -> Response:
    return await _signed_in_page(request, "queue.html")


@router.get("/dashboard")
async def dashboard_page(request: Request) -> Response:
    return await _signed_in_page(request, "dashboard.html")

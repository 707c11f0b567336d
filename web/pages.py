"""Server-rendered pages. Data arrives as JSON and is drawn by static JS with ``textContent``;
templates are autoescaped and never mark user data safe."""

from __future__ import annotations

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


def _who(request: Request) -> Principal | None:
    return principal(request, request.app.state.services.directory)


@router.get("/")
async def home(request: Request) -> Response:
    who = _who(request)
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
    who = request.app.state.services.directory.sign_in(username, password)
    if who is None:
        response = _page(request, "login.html", None, error="Wrong user name or password.")
        response.status_code = 401
        return response
    request.session.clear()  # a fresh session (and CSRF token) on every sign-in
    request.session["user"] = who.name
    return RedirectResponse("/queue" if who.can_review else "/dashboard", 303)


@router.post("/logout")
async def logout(
    request: Request, csrf_token_field: Annotated[str, Form(alias="csrf_token")] = ""
) -> Response:
    if not csrf_ok(request, csrf_token_field):
        return Response("missing or wrong CSRF token", 403)
    request.session.clear()
    return RedirectResponse("/login", 303)


@router.get("/queue")
async def queue_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return RedirectResponse("/login", 303)
    return _page(request, "queue.html", who)


@router.get("/dashboard")
async def dashboard_page(request: Request) -> Response:
    who = _who(request)
    if who is None:
        return RedirectResponse("/login", 303)
    return _page(request, "dashboard.html", who)

"""The Try page: type a ticket, see what a model version decides and why (``/api/predict``).

The page is static; ``static/try.js`` asks the API and draws the answer with ``textContent``.
Its URL holds the version and the thresholds being tried, never the text.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from store import Store
from web import try_api
from web.pages import _signed_in_page
from web.try_model import Tryout

router = APIRouter(include_in_schema=False)


@router.get("/try")
async def try_page(request: Request) -> Response:
    return await _signed_in_page(request, "try.html")


def mount(app: FastAPI, store: Store, model_dir: Path) -> None:
    """The page, its API and the models they try (``model_dir`` while the registry is empty)."""
    app.state.tryout = Tryout.from_settings(store, model_dir)
    app.include_router(try_api.router)
    app.include_router(router)

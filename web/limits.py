"""What a request may cost the web: a bound on the body, checked before anything reads it.

The body limit is checked before anything reads the body: a declared ``Content-Length`` over
the limit is answered 413 without calling the app (no route, no auth lookup, nothing buffered),
and a body without one (chunked) is counted as it arrives and cut off once past the limit, so
memory stays bounded whoever is asking. The refusal is the API's error model
(:class:`web.errors.ErrorOut`).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import ApiError, answer


class BodyTooLarge(HTTPException):
    """An HTTPException, so a route that was reading the body answers 413 through FastAPI."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes; send at most that")


class BodyLimit:
    """Pure ASGI (not BaseHTTPMiddleware), so it sees ``receive`` before anyone reads it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = BodyTooLarge(self.max_bytes).detail
        refusal = answer(ApiError(413, "body_too_large", detail, headers={"Connection": "close"}))
        await refusal(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one before we see it
    return None

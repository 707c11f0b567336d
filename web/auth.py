"""Who is asking: signed-in people (session cookie + CSRF token) or API clients (bearer token).

Passwords are hashed with scrypt from the standard library (memory-hard, no extra dependency);
tokens are long random strings, so a SHA-256 of them is enough and keeps the per-request check
cheap. Comparisons are constant-time. The cookie (Starlette's signed SessionMiddleware) holds a
session id and a CSRF token; who the id belongs to lives in redis (:class:`Sessions`), so signing
out ends the session on every replica, and a cookie forged with a leaked key names no session.
Cookie-authenticated writes must echo the CSRF token (form field or ``X-CSRF-Token`` header);
bearer requests carry no ambient credential, so they need none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from starlette.requests import Request

from web.exceptions import ConfigError
from web.settings import Role, TokenEntry, UserEntry

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_ID = "sid"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash``: the parameters travel with the hash so they can be raised."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError as exc:
        raise ConfigError(
            f"a password hash in TRIAGE_WEB_USERS is not an scrypt hash ({exc}); "
            "make one with `triage web hash-password`"
        ) from exc
    return hmac.compare_digest(actual, expected)


def new_token() -> tuple[str, str]:
    """(token to hand the client, its SHA-256 to put in TRIAGE_WEB_TOKENS)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Whoever made the request; ``name`` is what a correction records as its reviewer."""

    name: str
    role: Role
    via: str  # "session" or "token"

    @property
    def can_review(self) -> bool:
        return self.role == "reviewer"


# A hash to verify against when the user does not exist, so an unknown name takes as long as a
# wrong password and sign-in timing does not reveal which names exist.
_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


@dataclass(frozen=True)
class Directory:
    users: Mapping[str, UserEntry]
    tokens: Mapping[str, TokenEntry]

    def sign_in(self, name: str, password: str) -> Principal | None:
        entry = self.users.get(name)
        ok = verify_password(password, entry.password_hash if entry else _DUMMY_HASH)
        if entry is None or not ok:
            return None
        return Principal(name=name, role=entry.role, via="session")

    def user(self, name: str) -> Principal | None:
        """The signed-in user, if still configured (removing a user ends their sessions)."""
        entry = self.users.get(name)
        return Principal(name=name, role=entry.role, via="session") if entry else None

    def bearer(self, token: str) -> Principal | None:
        digest = token_digest(token)
        for name, entry in self.tokens.items():
            if hmac.compare_digest(digest, entry.token_sha256):
                return Principal(name=name, role=entry.role, via="token")
        return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also for the sign-in form)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def csrf_ok(request: Request, presented: str | None) -> bool:
    expected = request.session.get(CSRF_FIELD)
    return (
        isinstance(expected, str)
        and presented is not None
        and hmac.compare_digest(expected.encode(), presented.encode())
    )


def text(value: bytes | str) -> str:
    """A redis reply as text (the client returns bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Sessions:
    """Server-side sessions in redis, shared by every web replica.

    Keys hold the SHA-256 of the session id, so reading redis does not hand out sessions; each
    user's ids are also kept in a set, so all of a user's sessions can be ended at once.
    """

    redis: aioredis.Redis | None  # set when the app starts (bound to its event loop)
    namespace: str
    max_age_s: int

    def _key(self, session_id: str) -> str:
        return f"triage:{self.namespace}web:session:{token_digest(session_id)}"

    def _user_key(self, name: str) -> str:
        return f"triage:{self.namespace}web:sessions-of:{token_digest(name)}"

    def _client(self) -> aioredis.Redis:
        assert self.redis is not None, "the app is not started"
        return self.redis

    async def open(self, request: Request, name: str) -> None:
        """A fresh session (and CSRF token) on every sign-in: nothing survives from before."""
        session_id = secrets.token_urlsafe(32)
        key, user_key = self._key(session_id), self._user_key(name)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.set(key, name, ex=self.max_age_s)
            pipe.sadd(user_key, key)
            pipe.expire(user_key, self.max_age_s)
            await pipe.execute()
        request.session.clear()
        request.session[SESSION_ID] = session_id

    async def user(self, request: Request) -> str | None:
        session_id = request.session.get(SESSION_ID)
        if not isinstance(session_id, str):
            return None
        name = await self._client().get(self._key(session_id))
        return text(name) if name is not None else None

    async def close(self, request: Request) -> None:
        session_id = request.session.get(SESSION_ID)
        if isinstance(session_id, str):
            redis = self._client()
            key = self._key(session_id)
            name = await redis.getdel(key)
            if name is not None:
                await redis.srem(self._user_key(text(name)), key)
        request.session.clear()

    async def end_all(self, name: str) -> int:
        """Ends every session of ``name`` (``triage web sign-out``); returns how many."""
        redis = self._client()
        keys = await redis.smembers(self._user_key(name))
        ended = int(await redis.delete(*keys)) if keys else 0
        await redis.delete(self._user_key(name))
        return ended


async def principal(request: Request, directory: Directory, sessions: Sessions) -> Principal | None:
    """Bearer token first (API clients), then the server-side session (people)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return directory.bearer(token.strip())
    name = await sessions.user(request)
    return directory.user(name) if name is not None else None

"""Who is asking: signed-in people (session cookie + CSRF token) or API clients (bearer token).

Passwords are hashed with scrypt from the standard library (memory-hard, no extra dependency);
tokens are long random strings, so a SHA-256 of them is enough and keeps the per-request check
cheap. Comparisons are constant-time. The session is a signed cookie (Starlette's
SessionMiddleware): it holds the user name and a CSRF token, nothing secret. Cookie-authenticated
writes must echo the CSRF token (form field or ``X-CSRF-Token`` header); bearer requests carry
no ambient credential, so they need none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request

from web.exceptions import ConfigError
from web.settings import Role, TokenEntry, UserEntry

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


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


def principal(request: Request, directory: Directory) -> Principal | None:
    """Bearer token first (API clients), then the session cookie (people)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return directory.bearer(token.strip())
    name = request.session.get("user")
    return directory.user(name) if isinstance(name, str) else None

"""Settings of the web service (`triage web`): read once at the entry point, passed down typed.

Users and API tokens come from configuration as JSON, holding only hashes: the service never
sees a password or token it could leak from its own environment. ``triage web hash-password``
and ``triage web new-token`` produce the values to paste in.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from bus import ConnectionSettings
from store import FlagSettings

Role = Literal["reviewer", "ops", "admin"]

#: 32 bytes: what ``secrets.token_urlsafe(32)`` or ``openssl rand -hex 32`` gives.
MIN_SECRET_BITS = 256
KEY_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
#: Words that mark a key someone meant to replace; a random key contains none of them.
PLACEHOLDERS = ("changeme", "change-me", "change_me", "secret", "password", "example", "replace")


class UserEntry(BaseModel):
    """A person who may sign in. ``ops`` sees everything and changes nothing."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    password_hash: str = Field(min_length=1)
    """from `triage web hash-password`"""
    role: Role = "reviewer"


class TokenEntry(BaseModel):
    """An API client (a ticketing integration); ``name`` is recorded as the reviewer."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    token_sha256: str = Field(min_length=64, max_length=64)
    """from `triage web new-token`"""
    role: Role = "reviewer"


def _bits_per_char(key: str) -> float:
    """What one character can carry given the alphabet the key draws from (hex, base64, ...).

    An upper bound: it says a key is too short for its alphabet, not that it is random.
    """
    if all(c in "0123456789abcdef" for c in key) or all(c in "0123456789ABCDEF" for c in key):
        return 4.0
    if key.isdigit():
        return math.log2(10)
    if key.isascii() and key.isalnum() and (key.islower() or key.isupper()):
        return math.log2(36)
    if all(c.isascii() and (c.isalnum() or c in "-_+/=") for c in key):
        return 6.0  # base64 (both cases)
    return math.log2(94)  # printable ASCII; more per character is not credible


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign sessions, or None. A key someone can guess lets them forge
    cookies, so too short, repeated or placeholder keys are refused, not warned about.

    Randomness cannot be measured from one sample; what is checked is what a random key of
    32 bytes always passes: enough characters for its alphabet, no repeated unit, a character
    spread (Shannon estimate) of at least half the bits, and no placeholder word.
    """
    if len(key.encode("utf-8")) < 32:
        return f"is {len(key.encode('utf-8'))} bytes long; it needs at least 32 random bytes"
    capacity = len(key) * _bits_per_char(key)
    if capacity < MIN_SECRET_BITS:
        return f"holds at most {capacity:.0f} bits for its alphabet; it needs {MIN_SECRET_BITS}"
    if (key + key).find(key, 1) < len(key):
        return "repeats a shorter string"
    counts = Counter(key)
    spread = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values()) * len(key)
    if spread < MIN_SECRET_BITS / 2:
        return "uses too few distinct characters to be random"
    lowered = key.lower()
    if any(word in lowered for word in PLACEHOLDERS):
        return "contains a placeholder word"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebSettings(ConnectionSettings, FlagSettings):
    # A refused value is a secret or a hash more often than not: errors name it, never show it.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    """address the web server binds"""
    port: int = Field(8080, gt=0, lt=65536)
    """port the web server binds"""
    secret_key: SecretStr = Field(
        description=f"signs session cookies; at least 32 random bytes (`{KEY_RECIPE}`)"
    )
    web_users: dict[str, UserEntry] = Field(default_factory=dict)
    """JSON: {"ana": {"password_hash": ..., "role": ...}}"""
    web_tokens: dict[str, TokenEntry] = Field(default_factory=dict)
    """JSON: {"helpdesk": {"token_sha256": ..., "role": ...}}"""
    secure_cookies: bool | None = None
    """mark the session cookie Secure (HTTPS only); unset: on unless the web binds a loopback
    address
    """
    hsts: bool = False
    """send Strict-Transport-Security on every response (set true behind a TLS proxy); requests
    that arrive over https always get it
    """
    session_max_age_s: int = Field(8 * 3600, gt=0)
    """a sign-in lasts this long"""
    web_max_body_bytes: int = Field(1024 * 1024, gt=0)
    """larger request bodies get 413 before they are read"""
    login_max_failures: int = Field(5, gt=0)
    """wrong passwords for one user name in login_window_s, then locked"""
    login_max_failures_per_address: int = Field(20, gt=0)
    """wrong passwords from one client address in login_window_s"""
    login_window_s: int = Field(15 * 60, gt=0)
    """failures older than this expire"""
    login_lockout_s: int = Field(15 * 60, gt=0)
    """how long a lock lasts (`triage web unlock` lifts it)"""
    worker_group_id: str = Field("triage-worker", min_length=1)
    """consumer group whose lag the dashboard shows"""
    partitions: int = Field(8, gt=0)
    """partitions of tickets.incoming"""
    metrics_refresh_s: float = Field(30.0, ge=0)
    """/metrics reuses its store aggregates for this long"""
    precision_window: str = Field("7d", pattern=r"^\d+[mhdw]$")
    """reviewed window of triage_band_precision"""
    claim_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    """how long a reviewer's claim on a ticket is kept"""
    queue_per_label_cap: int = Field(5, ge=1)
    """most tickets of one label per page"""

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_random(cls, value: SecretStr) -> SecretStr:
        problem = secret_key_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"TRIAGE_SECRET_KEY {problem}; make one with `{KEY_RECIPE}` "
                "(anyone who can guess it can sign in as anyone)"
            )
        return value

    def cookies_secure(self, bound_host: str) -> bool:
        """Secure by default: only a loopback bind can be plain HTTP without exposing cookies."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return not is_loopback(bound_host)

"""Settings of the web service (`triage web`): read once at the entry point, passed down typed.

Users and API tokens come from configuration as JSON, holding only hashes: the service never
sees a password or token it could leak from its own environment. ``triage web hash-password``
and ``triage web new-token`` produce the values to paste in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from ops.settings import ConnectionSettings

Role = Literal["reviewer", "ops", "admin"]


class UserEntry(BaseModel):
    """A person who may sign in. ``ops`` sees everything and changes nothing."""

    password_hash: str = Field(min_length=1, description="from `triage web hash-password`")
    role: Role = "reviewer"


class TokenEntry(BaseModel):
    """An API client (a ticketing integration); ``name`` is recorded as the reviewer."""

    token_sha256: str = Field(
        min_length=64, max_length=64, description="from `triage web new-token`"
    )
    role: Role = "reviewer"


class WebSettings(ConnectionSettings):
    host: str = Field("127.0.0.1", description="address the web server binds")
    port: int = Field(8080, gt=0, lt=65536, description="port the web server binds")
    secret_key: SecretStr = Field(
        description="signs session cookies; a long random string (`triage web new-token`)"
    )
    web_users: dict[str, UserEntry] = Field(
        default_factory=dict, description='JSON: {"ana": {"password_hash": ..., "role": ...}}'
    )
    web_tokens: dict[str, TokenEntry] = Field(
        default_factory=dict, description='JSON: {"helpdesk": {"token_sha256": ..., "role": ...}}'
    )
    secure_cookies: bool = Field(
        False, description="mark the session cookie Secure; set true behind HTTPS"
    )
    session_max_age_s: int = Field(8 * 3600, gt=0, description="a sign-in lasts this long")
    worker_group_id: str = Field(
        "triage-worker", min_length=1, description="consumer group whose lag the dashboard shows"
    )
    partitions: int = Field(4, gt=0, description="partitions of tickets.incoming")
    claim_ttl_s: int = Field(
        7 * 24 * 3600, gt=0, description="how long a reviewer's claim on a ticket is kept"
    )
    queue_per_label_cap: int = Field(5, ge=1, description="most tickets of one label per page")

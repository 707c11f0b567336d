"""Connection settings shared by every service: the broker, its security, redis, the database.

Each service has ONE settings class (``stream.settings.WorkerSettings``,
``learner.settings.LearnerSettings``, ``web.settings.WebSettings``) that extends one of these; it
is read once at the entry point and inner code takes typed arguments. ``var/stack.env`` (written
by ``triage stack up``) is read after the process environment, so a shell with nothing exported
talks to the embedded stack.

Profiles (``TRIAGE_BROKER_PROFILE``) say which broker the defaults are for:

- ``kafka`` (default): what a real cluster wants. Batching producer (``linger_ms``), ``acks=all``,
  topics the system creates get ``TRIAGE_TOPIC_REPLICATION`` (3) replicas, no private overrides.
- ``embedded``: tansu, the broker ``triage stack up`` starts. One record per producer batch
  (tansu's ListOffsets answers the last batch's base offset), replication 1, and a short consumer
  fetch wait (tansu holds every fetch for the full wait). ``triage stack up`` writes this profile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.logs import LogFormat
from bus.security import check_security

STACK_ENV = Path("var/stack.env")

Profile = Literal["kafka", "embedded"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ConnectionSettings(BaseSettings):
    """Where the broker, redis and the database are, and how to authenticate to them."""

    model_config = SettingsConfigDict(
        # a field's docstring is its description: one text for readers and for --help
        use_attribute_docstrings=True,
        env_prefix="TRIAGE_",
        env_file=str(STACK_ENV),
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    broker_profile: Profile = "kafka"
    """kafka: a real cluster; embedded: tansu from `triage stack up`"""
    kafka_bootstrap: str = "127.0.0.1:9092"
    """host:port[,host:port] of the Kafka brokers"""
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """SSL/SASL_SSL for managed clusters (Confluent, MSK, Aiven)"""
    kafka_sasl_mechanism: SaslMechanism | None = None
    """required with SASL_PLAINTEXT/SASL_SSL"""
    kafka_sasl_username: str | None = None
    """SASL user (API key)"""
    kafka_sasl_password: SecretStr | None = None
    """SASL password (API secret)"""
    kafka_ssl_ca_file: Path | None = None
    """CA bundle that signed the brokers' certificates (default: system CAs)"""
    kafka_ssl_cert_file: Path | None = None
    """client certificate (mutual TLS)"""
    kafka_ssl_key_file: Path | None = None
    """client certificate's key"""
    kafka_ssl_key_password: SecretStr | None = None
    """if the key is encrypted"""
    topic_prefix: str = ""
    """prepended to every topic name"""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """decision cache, model pointer (rediss:// for TLS)"""
    redis_ssl_ca_file: Path | None = None
    """CA for a rediss:// server"""
    database_url: str = "sqlite:///var/triage.db"
    """active-learning store (SQLAlchemy URL)"""
    model_dir: Path = Path("var/models/current")
    """model served when no deployment is recorded"""
    log_format: LogFormat = "text"
    """json: one object per line for a log collector (bus.logs)"""

    @model_validator(mode="after")
    def _security_complete(self) -> ConnectionSettings:
        check_security(self)  # lives with the code that builds clients from these values
        return self


class FaustServiceSettings(ConnectionSettings):
    """What every faust service (worker, learner) needs to talk to the broker the same way."""

    partitions: int = Field(8, gt=0)
    """partitions of tickets.incoming and the topics a service creates"""
    topic_replication: int | None = Field(None, ge=1)
    """replicas of created topics (default: 3 kafka, 1 embedded)"""
    topic_create: bool = True
    """create missing topics; off where a cluster's topics are managed"""
    broker_session_timeout_s: float | None = Field(None, gt=0)
    """consumer session timeout (default: 6 s embedded, 30 s kafka)"""
    broker_fetch_wait_ms: int | None = Field(None, gt=0)
    """longest a fetch waits for data (embedded: 100; kafka: client's)"""
    producer_linger_ms: int = Field(5, ge=0)
    """how long the producer waits to fill a batch (kafka profile)"""
    data_dir: Path = Path("var/faust")
    """faust's local state (no tables)"""
    probe_port: int | None = Field(None, gt=0, lt=65536)
    """port of /healthz, /readyz, /metrics; unset = off"""
    probe_host: str = "127.0.0.1"
    """address the probe server binds (0.0.0.0 for a scraper)"""

    @property
    def replication(self) -> int:
        if self.topic_replication is not None:
            return self.topic_replication
        return 1 if self.broker_profile == "embedded" else 3

    @property
    def session_timeout_s(self) -> float:
        """tansu answers JoinGroup only after half the session timeout: keep it short there."""
        if self.broker_session_timeout_s is not None:
            return self.broker_session_timeout_s
        return 6.0 if self.broker_profile == "embedded" else 30.0

    @property
    def fetch_wait_ms(self) -> int | None:
        """None: the client's own default, right for Kafka, which answers as soon as data lands."""
        if self.broker_fetch_wait_ms is not None:
            return self.broker_fetch_wait_ms
        return 100 if self.broker_profile == "embedded" else None

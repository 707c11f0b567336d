"""Connection settings shared by every service.

Each service has ONE settings class (``stream.settings.WorkerSettings``,
``learner.settings.LearnerSettings``, ...) that extends this one; it is read once at the entry
point and inner code takes typed arguments. ``var/stack.env`` (written by ``triage stack up``) is
read after the process environment, so a shell with nothing exported talks to the embedded stack.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STACK_ENV = Path("var/stack.env")


class ConnectionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_",
        env_file=str(STACK_ENV),
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="host:port[,host:port] of the Kafka brokers"
    )
    topic_prefix: str = Field("", description="prepended to every topic name")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="dedup keys, model pointer")
    database_url: str = Field(
        "sqlite:///var/triage.db", description="active-learning store (SQLAlchemy URL)"
    )
    model_dir: Path = Field(
        Path("var/models/current"), description="model served when no deployment is recorded"
    )


class FaustServiceSettings(ConnectionSettings):
    """What every faust service (worker, learner) needs to talk to the broker the same way.

    The values are the ones the embedded broker (tansu) needs; see ``stream/app.py`` for why.
    """

    partitions: int = Field(4, gt=0, description="partitions of the topics a service declares")
    broker_session_timeout_s: float = Field(
        6.0, gt=0, description="the embedded broker answers JoinGroup after half of this"
    )
    broker_fetch_wait_ms: int = Field(
        100, gt=0, description="longest a fetch waits for data; tansu always waits this long"
    )
    data_dir: Path = Field(Path("var/faust"), description="faust's local state (no tables)")

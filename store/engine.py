"""Connecting to the database and bringing its schema up to date.

SQLite (a file, the default) and PostgreSQL are supported; the schema is created and upgraded by
Alembic (:func:`migrate`), never by ``create_all``, so production and tests run the same DDL.
:class:`Database` is what every query module of this package takes: the engine and its sessions,
without the typed methods of :class:`store.Store`, so those modules need not import the class
that imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from store.exceptions import StoreError
from store.tables import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's config built in code: the package ships no alembic.ini to lose or misplace."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


#: pg_advisory_xact_lock key of schema migrations ("triage" in ASCII): one migrator at a time.
MIGRATION_LOCK_KEY = 0x747269616765


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it already is), one process at a
    time: init, the web and the learner all open the store on compose's first boot, and two
    unlocked migrations create the same tables into each other. Postgres holds an advisory lock
    for the transaction; a SQLite file gets an exclusive lock file next to it."""
    with _sqlite_file_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(connection=conn), "head")


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the queue and report read while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created so the default URL just works."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"database URL {url!r} is not a SQLAlchemy URL ({exc}); "
            "use e.g. sqlite:///var/triage.db or postgresql+psycopg://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} uses {backend!r}; "
            "the store supports sqlite and postgresql"
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def open_engine(url: str, *, upgrade: bool = True) -> Engine:
    """Connect and (by default) migrate, so a fresh database is usable at once."""
    engine = connect(url)
    if upgrade:
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            where = make_url(url).render_as_string(hide_password=True)
            raise StoreError(
                f"cannot open the store at {where}: {exc.orig}; check TRIAGE_DATABASE_URL "
                "and that the server is running"
            ) from exc
    return engine


def insert(engine: Engine, entity: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ``ON CONFLICT DO NOTHING``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def database_unavailable(exc: BaseException) -> bool:
    """True for faults of the connection, not of the statement: retrying the same call later
    can succeed (every store call is one idempotent transaction, so a retry after a commit
    whose answer was lost finds its row and counts a duplicate)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout)


def brief_error(exc: BaseException) -> str:
    """The driver's first line: enough to tell a refused connection from a dead server."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


class Database:
    """An engine and its unit-of-work sessions: what the query modules of this package run on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

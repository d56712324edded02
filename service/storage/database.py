"""Engine, sessions and migrations: the storage foundation every feature shares.

SQLite (default, one file in the data folder, WAL journal) or PostgreSQL via
`STADTBLICK_DATABASE_URL`. Use `Database.session()` for reads and `Database.transaction()`
for writes; both commit when the block ends and roll back on any exception, so no record is
ever half-written. On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: it waits
for the single writer slot up front instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE = "stadtblick_write"
_SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    def __init__(self, url: str, echo: bool = False):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        # PostgreSQL: an unreachable server fails fast (readiness, requests) instead of hanging.
        connect_args = {"check_same_thread": False} if self.is_sqlite else {"connect_timeout": 10}
        self.engine: Engine = create_engine(self.url, echo=echo, connect_args=connect_args, pool_pre_ping=True)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read (or light write) transaction."""
        with self._reader.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: all or nothing."""
        with self._writer.begin() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations shipped in the package (idempotent)."""
        with self.engine.begin() as connection:
            config = alembic_config(self.url.render_as_string(hide_password=False))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check(self) -> None:
        """Raise if the database cannot be reached or read (for the readiness probe)."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic configuration without an alembic.ini: the migrations live inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _configure_sqlite(engine: Engine) -> None:
    """WAL + foreign keys per connection; take transaction control from pysqlite (SQLAlchemy recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

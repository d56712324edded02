"""Engine, sessions and migrations: the storage foundation every feature shares.

SQLite (default, one file in the data folder, WAL journal) or PostgreSQL via
`STADTBLICK_DATABASE_URL`. Use `Database.session()` for reads and `Database.transaction()`
for writes; both commit when the block ends and roll back on any exception, so no record is
ever half-written. On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: it waits
for the single writer slot up front instead of failing half-way with "database is locked".

An open SQLite connection keeps writing to its file after the file was deleted or replaced, so
every write would answer 200 and be gone at the next start: every session first checks that the
path still names the file it opened (503 `database_unavailable` otherwise). The file is readable
by the service's user only, like the stored images. Bound parameters (places, notes, search
words) never appear in error messages or logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.storage.models import POSTGRESQL_ONLY

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE = "stadtblick_write"
_SQLITE_BUSY_TIMEOUT_MS = 30_000


def hold_lock(connection: Session | Connection, name: str) -> None:
    """Serialise the rest of this transaction with every other transaction, in any process, that
    holds the lock `name` (a PostgreSQL advisory lock, released at commit or rollback).

    SQLite needs nothing: a write transaction already holds its single writer slot."""
    dialect = connection.dialect if isinstance(connection, Connection) else connection.get_bind().dialect
    if dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        connection.execute(select(func.pg_advisory_xact_lock(key)))


class Database:
    def __init__(self, url: str, echo: bool = False):
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.file: _FileIdentity | None = None
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            self.file = _FileIdentity.create(Path(self.url.database))
        # PostgreSQL: an unreachable server fails fast (readiness, requests) instead of hanging.
        connect_args = {"check_same_thread": False} if self.is_sqlite else {"connect_timeout": 10}
        self.engine: Engine = create_engine(
            self.url, echo=echo, connect_args=connect_args, pool_pre_ping=True, hide_parameters=True
        )
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read (or light write) transaction."""
        self._check_file()
        with self._reader.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: all or nothing."""
        self._check_file()
        with self._writer.begin() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations shipped in the package (idempotent).

        On PostgreSQL several processes (API replicas, workers) may start at once: an advisory
        lock lets one migrate while the others wait, then find the schema up to date."""
        with self.engine.begin() as connection:
            hold_lock(connection, "migrations")
            config = alembic_config(self.url.render_as_string(hide_password=False))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check(self) -> None:
        """Raise if the database cannot be reached or read (for the readiness probe)."""
        self._check_file()
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()

    def dispose(self) -> None:
        self.engine.dispose()

    def _check_file(self) -> None:
        if self.file is not None:
            self.file.check()


class _FileIdentity:
    """The SQLite file a Database opened (device and inode), to notice it being deleted or replaced."""

    def __init__(self, path: Path):
        self.path = path
        self._identity = self._stat()

    @classmethod
    def create(cls, path: Path) -> _FileIdentity:
        """Create the file (owner-only) if missing, take group and others' access to an existing one
        (SQLite gives its -wal and -shm files the same mode), and remember which file it is."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            with contextlib.suppress(PermissionError):  # a file of another user: SQLite reports it
                os.chmod(path, path.stat().st_mode & 0o700)
        return cls(path)

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def check(self) -> None:
        if self._stat() != self._identity:
            raise OperationalError(
                None, None, sqlite3.OperationalError(f"the database file was deleted or replaced: {self.path.name}")
            )


def alembic_config(url: str) -> Config:
    """Alembic configuration without an alembic.ini: the migrations live inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def schema_objects(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for comparing the models with a database: PostGIS's own table
    and the task queue's (procrastinate creates them, migration 0007) are not ours; the PostGIS
    columns and indexes (migration 0006) exist on PostgreSQL only."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name is not None and (name == "spatial_ref_sys" or name.startswith("procrastinate_")):
            return False
        return dialect == "postgresql" or not getattr(obj, "info", {}).get(POSTGRESQL_ONLY)

    return include


def _configure_sqlite(engine: Engine) -> None:
    """WAL + foreign keys per connection; take transaction control from pysqlite (SQLAlchemy recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted content (staged batch originals) is zeroed, not left behind
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

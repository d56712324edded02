"""The database backends the storage and GIS tests run on: SQLite files and a throwaway PostgreSQL
server (initdb + pg_ctl in a temporary folder).

Works on a fresh CI machine where tests run as root (PostgreSQL refuses to run as root, so the
server runs as the `postgres` user the Debian package creates) and on a developer's machine as
a normal user. Every test gets a database of its own. The service needs PostGIS on PostgreSQL
(migration 0006): a server without it counts as unavailable. It is installed once into
template1, so each new database has it without the half second `CREATE EXTENSION` takes;
`create_database(template="template0")` gives a database without it (the migration's own path).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

BACKENDS = ["sqlite", "postgresql"]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def _bindir() -> Path:
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found and Path(found).resolve().parent.joinpath("postgres").exists():
            return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.run_as: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="stadtblick-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server") from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data = self.folder / "data"
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()[-800:]}")

    def start(self) -> PostgresServer:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        try:
            self._install_postgis()
        except PostgresUnavailable:
            self.stop()
            raise
        return self

    def _install_postgis(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn("template1"), autocommit=True) as c:
            if c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone() is None:
                raise PostgresUnavailable(
                    f"PostGIS is not installed for PostgreSQL {self.bindir.parent.name}: "
                    f"apt-get install postgresql-{self.bindir.parent.name}-postgis-3"
                )
            c.execute("CREATE EXTENSION postgis")

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, template: str = "template1") -> str:
        """A new empty database (with PostGIS from template1); returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')  # generated names, not input
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


def new_database_url(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    """An empty database: a SQLite file in `folder`, or a new database on the session's PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'stadtblick.db'}"
    return request.getfixturevalue("postgres_server").create_database()

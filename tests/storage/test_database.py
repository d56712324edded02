"""The storage foundation: migrations, transactions, SQLite settings, the `stadtblick db` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from db_backends import new_database_url
from sqlalchemy import func, select, text

from service.cli.main import main
from service.storage import Database
from service.storage.database import alembic_config
from service.storage.jobs import JobRepository
from service.storage.models import Base, Job


def head_revision() -> str:
    """The newest migration shipped (features add migrations; the tests need not name them)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_migrations_create_the_schema_of_the_models(db: Database) -> None:
    assert db.current_revision() == head_revision()
    db.upgrade()  # a second run is a no-op
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_failing_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        JobRepository(session).create("test", total=3)
        session.flush()
        raise RuntimeError("crash half-way")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # the folder is created
    db.upgrade()
    with db.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_db_upgrade_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("STADTBLICK_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert head_revision() in capsys.readouterr().out
    assert Database(url).current_revision() == head_revision()


# A replica's start as far as the schema goes: connect, say it is ready, upgrade on "go".
_REPLICA = """
import sys
from service.storage import Database
database = Database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
database.upgrade()
"""


def test_replicas_starting_at_once_migrate_one_after_another(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Four processes run `Database.upgrade` on one empty PostgreSQL database at the same moment (API
    replicas and workers started together): without the advisory lock they race to create the same
    tables and all but one fail."""
    url = new_database_url(request, "postgresql", tmp_path)
    replicas = [
        subprocess.Popen([sys.executable, "-c", _REPLICA, url], stdin=PIPE, stdout=PIPE, stderr=PIPE, text=True)
        for _ in range(4)
    ]
    for replica in replicas:
        assert replica.stdout is not None and replica.stdout.readline() == "ready\n"
    for replica in replicas:
        replica.stdin.write("go\n")  # type: ignore[union-attr]
        replica.stdin.close()  # type: ignore[union-attr]
    failures = [replica.stderr.read() for replica in replicas if replica.wait(timeout=120) != 0]  # type: ignore[union-attr]
    assert failures == []
    assert Database(url).current_revision() == head_revision()

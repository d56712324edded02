"""The storage foundation: migrations, transactions, SQLite settings, the `stadtblick db` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from service.cli.main import main
from service.storage import Database
from service.storage.database import alembic_config, schema_objects
from service.storage.jobs import JobRepository
from service.storage.models import Base, Job


def head_revision() -> str:
    """The newest migration shipped (features add migrations; the tests need not name them)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_migrations_create_the_schema_of_the_models(db: Database) -> None:
    assert db.current_revision() == head_revision()
    db.upgrade()  # a second run is a no-op
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": schema_objects(db.engine.name)})
        assert compare_metadata(context, Base.metadata) == []


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

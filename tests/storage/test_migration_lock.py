"""Processes that start together (API replicas, workers) migrate one PostgreSQL database one after
another: `Database.upgrade` holds an advisory lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest
from alembic.script import ScriptDirectory
from db_backends import new_database_url

from service.storage import Database
from service.storage.database import alembic_config

# A replica's start as far as the schema goes: connect, say it is ready, upgrade on "go".
_REPLICA = """
import sys
from service.storage import Database
database = Database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
database.upgrade()
"""


def test_processes_starting_at_once_migrate_one_after_another(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Four processes upgrade one empty database at the same moment; without the lock they race
    to create the same tables and all but one fail."""
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
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert Database(url).current_revision() == head

"""`stadtblick db`: apply the schema migrations, show the schema revision, create a new migration."""

from __future__ import annotations

import argparse

from service.config import Settings
from service.storage import Database


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema migrations (STADTBLICK_DATABASE_URL)")
    actions = p.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply the migrations (the service also does this at start)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=run_upgrade)
    actions.add_parser("current", help="print the schema revision of the database").set_defaults(func=run_current)
    revision = actions.add_parser("revision", help="developers: generate a migration from the changed models")
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(func=run_revision)


def _database() -> Database:
    return Database(Settings().resolved_database_url())


def run_upgrade(args: argparse.Namespace) -> int:
    db = _database()
    db.upgrade(args.revision)
    print(f"database at revision {db.current_revision()}")
    return 0


def run_current(_: argparse.Namespace) -> int:
    print(_database().current_revision() or "empty (no migrations applied)")
    return 0


def run_revision(args: argparse.Namespace) -> int:
    from alembic import command

    from service.storage.database import alembic_config

    command.revision(alembic_config(Settings().resolved_database_url()), message=args.message, autogenerate=True)
    return 0

"""`stadtblick keys`: create, list and revoke API keys (in the service's database)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from service.auth import ROLES, Role
from service.auth.keys import Principal
from service.config import Settings
from service.storage import Database, audit
from service.storage.api_keys import ApiKeyError, ApiKeyRepository

#: How key management appears in the audit log: done on the server's command line.
CLI_ACTOR = Principal(key_id="cli", name="command-line", role=Role.ADMIN)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys: create, list, revoke (docs/security.md)")
    actions = p.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; prints it once, as the last line")
    create.add_argument("--role", required=True, choices=[r.value for r in ROLES])
    create.add_argument("--name", required=True, help="who or what uses the key (unique among active keys)")
    create.set_defaults(func=run_create)
    actions.add_parser("list", help="table of keys (never the secrets)").set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by name or id; effective at once")
    revoke.add_argument("name_or_id")
    revoke.set_defaults(func=run_revoke)


def _database() -> Database:
    db = Database(Settings().resolved_database_url())
    db.upgrade()
    return db


def run_create(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name or len(name) > 64:
        print("error: --name must be 1 to 64 characters", file=sys.stderr)
        return 2
    with _database().transaction() as session:
        try:
            record, secret = ApiKeyRepository(session).create(name, Role(args.role))
        except ApiKeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        audit.record(session, CLI_ACTOR, audit.CREATE, f"api_key:{record.id}")
    print(f"created {args.role} key {record.id} for {name!r}; it is shown only now:")
    print(secret)
    return 0


def run_list(_: argparse.Namespace) -> int:
    with _database().session() as session:
        records = ApiKeyRepository(session).all()
    table = Table("id", "name", "role", "created (UTC)", "revoked (UTC)")
    for r in records:
        revoked = r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else ""
        table.add_row(r.id, r.name, r.role, r.created_at.strftime("%Y-%m-%d %H:%M"), revoked)
    Console().print(table)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with _database().transaction() as session:
        try:
            record = ApiKeyRepository(session).revoke(args.name_or_id)
        except ApiKeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        audit.record(session, CLI_ACTOR, audit.DELETE, f"api_key:{record.id}")
    print(f"revoked key {record.id} ({record.name!r})")
    return 0

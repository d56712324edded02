"""`stadtblick retention run`: delete stored personal data past its retention period, now.

The service does the same every `STADTBLICK_RETENTION_INTERVAL_S`; this is for a cron job, a
changed retention period, or to see what is due (`--dry-run`).
"""

from __future__ import annotations

import argparse
import json

from service.config import Settings
from service.retention_rules import standard_rules
from service.storage import Database
from service.storage.retention import run_retention


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help="delete stored images past their retention period (docs/privacy.md)")
    actions = p.add_subparsers(dest="retention_command", required=True)
    run = actions.add_parser("run", help="delete what is due now (the service also does this every hour)")
    run.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    run.set_defaults(func=run_now)


def run_now(args: argparse.Namespace) -> int:
    settings = Settings()
    db = Database(settings.resolved_database_url())
    db.upgrade()
    rules = standard_rules(
        settings.photo_store("frames"), settings.retention_frames_days, settings.photo_store("lost_items")
    )
    report = run_retention(db, rules, dry_run=args.dry_run)
    verb = "would delete" if report.dry_run else "deleted"
    print(json.dumps({verb: report.deleted, "files_removed": report.files_removed}))
    return 0

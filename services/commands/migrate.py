"""`dbaas migrate`: create the database if missing and apply pending migrations."""

from __future__ import annotations

import argparse

from services import settings
from services.store import migrating


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-create", action="store_true", help="fail instead of creating a missing database"
    )


def run(args: argparse.Namespace) -> int:
    config = settings.Settings.from_env()
    if not args.no_create:
        migrating.ensure_database(config.database_url)
    applied = migrating.apply(config.database_url)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0

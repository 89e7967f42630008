"""`dbaas keys create|list|revoke`: manage API keys from the command line.

`create` prints only the key (so `KEY=$(dbaas keys create ...)` works); it is shown once
and stored hashed. Errors go to stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from services import settings
from services.clients import postgres, queue, revocations
from services.store import keys, projects


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--project", required=True, help="project id (created if missing)")
    create.add_argument("--role", required=True, choices=keys.ROLES)
    create.add_argument("--description", default="")
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--project", help="only this project")
    revoke = actions.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key", help="key id (uuid) or prefix")


def run(args: argparse.Namespace) -> int:
    config = settings.Settings.from_env()
    with postgres.connect(config.database_url) as conn:
        if args.action == "create":
            try:
                token = keys.create(
                    conn, project_id=args.project, role=args.role, description=args.description
                )
            except (projects.InvalidProjectId, keys.InvalidRole) as exc:
                print(f"dbaas keys: {exc}", file=sys.stderr)
                return 2
            conn.commit()
            print(token)
            return 0
        if args.action == "list":
            print(f"{'ID':36}  {'PREFIX':12}  {'PROJECT':20}  {'ROLE':8}  STATUS")
            for info in keys.list_keys(conn, project_id=args.project):
                status = "revoked" if info.revoked_at else "active"
                print(
                    f"{info.id!s:36}  {info.prefix:12}  {info.project_id:20}  "
                    f"{info.role:8}  {status}"
                )
            return 0
        revoked = keys.revoke(conn, args.key)
        if revoked is None:
            print(f"dbaas keys: no active key matches {args.key!r}", file=sys.stderr)
            return 1
        conn.commit()
        print(f"revoked {args.key}")
        _announce(config.redis_url, revoked)
        return 0


def _announce(redis_url: str, key_id: uuid.UUID) -> None:
    """Tell the running API processes to forget the key now (best effort: without Redis
    their caches forget it within seconds anyway)."""
    try:
        client = queue.connect(redis_url)
        try:
            revocations.publish(client, str(key_id))
        finally:
            client.close()
    except revocations.UNAVAILABLE as exc:
        print(f"dbaas keys: revocation not announced (Redis: {exc})", file=sys.stderr)

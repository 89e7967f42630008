"""`dbaas quota show|set`: a project's quotas, and its own limits in place of the defaults.

`set` takes any of the limits; `default` puts one back to the server's default
(`DBAAS_QUOTA_*`), `0` leaves it unlimited. Amounts are Kubernetes quantities.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services import settings
from services.clients import postgres
from services.control import quotas
from services.domain import quantities
from services.domain import quotas as rules
from services.store import projects
from services.store import quotas as store

RESET = "default"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="limits and use of a project, as JSON")
    show.add_argument("--project", required=True)
    change = actions.add_parser("set", help="override limits of a project")
    change.add_argument("--project", required=True)
    for name in rules.FIELDS:
        change.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            metavar="VALUE",
            help=f"{'a quantity' if name in rules.AMOUNTS else 'a count'}, 0 (none) or default",
        )


def _parsed(name: str, raw: str) -> Any:
    if raw == RESET:
        return None
    if name in rules.AMOUNTS:
        return quantities.format_quantity(quantities.parse_quantity(raw), binary=name != "cpu")
    value = int(raw)
    if value < 0:
        raise ValueError(f"{raw} is negative")
    return value


def run(args: argparse.Namespace) -> int:
    config = settings.Settings.from_env()
    defaults = quotas.defaults_from(config)
    with postgres.connect(config.database_url) as conn:
        if args.action == "set":
            values: dict[str, Any] = {}
            for name in rules.FIELDS:
                raw = getattr(args, name)
                if raw is None:
                    continue
                try:
                    values[name] = _parsed(name, raw)
                except (ValueError, quantities.InvalidQuantity) as exc:
                    print(f"dbaas quota: --{name.replace('_', '-')}: {exc}", file=sys.stderr)
                    return 2
            if not values:
                print("dbaas quota: set what? (--databases, --storage, ...)", file=sys.stderr)
                return 2
            try:
                projects.ensure(conn, args.project)
            except projects.InvalidProjectId as exc:
                print(f"dbaas quota: {exc}", file=sys.stderr)
                return 2
            store.set_overrides(conn, args.project, values)
            conn.commit()
        print(json.dumps(quotas.report(conn, args.project, defaults), indent=2))
    return 0

"""The `dbaas` console script: one subcommand per program or admin task, plus the client.

The client commands (`db`, `ops`, `engines`, `login`, `completion`: `services.client`) are
handed their arguments before anything of the server is imported. Each server subcommand
lives in its own module under `services.commands` exposing `configure(parser)` and
`run(args) -> int`; modules are imported only when their subcommand runs, so
`dbaas migrate` never pays for importing the Kubernetes client.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.settings import Settings

# Not __doc__: the pod runs with PYTHONOPTIMIZE=2, which strips docstrings.
DESCRIPTION = "The `dbaas` console script: one subcommand per program or admin task."

COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("services.commands.migrate", "apply database migrations"),
    "keys": ("services.commands.keys", "create, list and revoke API keys"),
    "quota": ("services.commands.quota", "show or override a project's quotas"),
    "sim": ("services.commands.sim", "run the simulated Kubernetes + KubeDB cluster"),
    "api": ("services.commands.api", "serve the REST API (Hypercorn)"),
    "worker": ("services.commands.worker", "run the RQ operation worker"),
    "status-sync": ("services.commands.status_sync", "run the status-sync reconciler"),
    "drift": ("services.commands.drift", "run the drift reconciler"),
    "health": ("services.commands.health", "exit 0 if a program's heartbeat is recent (probes)"),
}


# The client's commands, listed in `dbaas --help` and dispatched to `services.client.main`
# (click) with the rest of argv. Kept here, not imported, so the server never loads click.
CLIENT_COMMANDS: dict[str, str] = {
    "db": "create, inspect, change and delete databases (client of the API)",
    "ops": "list, follow and cancel operations (client of the API)",
    "backup": "take backups now and list a database's backups (client of the API)",
    "engines": "the engines and versions a new database may use (client of the API)",
    "login": "check an API URL and key, and keep them in the profile file",
    "completion": "print the bash or zsh completion script",
}
COMPLETION_VARIABLE = "_DBAAS_COMPLETE"


def _wanted(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbaas", description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = _wanted(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        if name == wanted:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(handler=module.run)
    for name, help_text in CLIENT_COMMANDS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def __getattr__(name: str) -> Any:
    # `cli.LineFormatter`, where tests and callers have always found it, loaded on first use:
    # services.logs imports orjson, which the client commands never need.
    if name == "LineFormatter":
        from services import logs

        return logs.LineFormatter
    raise AttributeError(name)


def configure_logging(config: Settings) -> None:
    """One line per record, prefixed with the program name so a shared stdout stays legible
    (or one JSON object per line with `DBAAS_LOG_FORMAT=json`)."""
    from services import logs

    logs.configure(program=config.program, level=config.log_level, format=config.log_format)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _wanted(argv) in CLIENT_COMMANDS or COMPLETION_VARIABLE in os.environ:
        from services.client.main import main as client_main

        return client_main(argv)
    # Imported here, not above: the client commands never read the server's settings, and
    # `dbaas db list` is measured as a whole process (bench/cli_latency.py).
    from services.settings import Settings, SettingsError

    args = build_parser(argv).parse_args(argv)
    try:
        configure_logging(Settings.from_env())
        return int(args.handler(args) or 0)
    except SettingsError as exc:
        print(f"dbaas: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Through the logger, so the traceback carries the program's prefix on the shared
        # stdout of the pod instead of arriving as anonymous lines.
        logging.getLogger("services.cli").exception("dbaas %s: unexpected error", args.command)
        return 1


if __name__ == "__main__":
    sys.exit(main())

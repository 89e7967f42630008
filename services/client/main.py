"""Run a client command: its result on stdout, a failure as one line (plus field errors) on
stderr and a non-zero exit code."""

from __future__ import annotations

import sys

import click

from services.client.api import ClientFailure
from services.client.backup_commands import backup, backup_policy_command
from services.client.commands import db, root
from services.client.config import ConfigError
from services.client.restore_commands import restore

# The command groups of their own modules (they build on `commands`' shared options, so
# `commands` cannot import them).
root.add_command(backup)
db.add_command(backup_policy_command)
db.add_command(restore)


def main(argv: list[str]) -> int:
    try:
        result = root.main(args=argv, prog_name="dbaas", standalone_mode=False)
    except ClientFailure as failure:
        lines = failure.lines()
        sys.stderr.write(f"dbaas: error: {lines[0]}\n")
        for line in lines[1:]:
            sys.stderr.write(line + "\n")
        return failure.exit_code
    except ConfigError as exc:
        sys.stderr.write(f"dbaas: error: {exc}\n")
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("dbaas: aborted\n")
        return 130
    return result if isinstance(result, int) else 0

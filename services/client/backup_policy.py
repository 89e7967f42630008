"""A database's `backup` field on the command line: the flags that state it, the JSON they
make, and one line that describes it.

The field is `{"schedule": CRON, "retention": {"keep_last": N, "max_age": "30d"}, "pitr":
bool}` (null: no scheduled backups). A change keeps what the flags do not name: the flags
given are laid over the current policy and the whole policy is sent, so the result does not
depend on how deep the server merges. The API's defaults and field errors stay the API's: a
retention without a schedule on a database that has none is its 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def policy_options(command: F, *, prefix: str, pitr_off: bool) -> F:
    """--{prefix}schedule, --{prefix}keep-last, --{prefix}max-age and --pitr (with
    --no-pitr when `pitr_off`, for a change)."""
    pitr = "--pitr/--no-pitr" if pitr_off else "--pitr"
    command = click.option(
        pitr,
        "pitr",
        is_flag=True,
        default=None,
        help="point-in-time recovery: KubeDB archives the WAL/binlog/oplog (postgres, mysql, "
        "mongodb)",
    )(command)
    command = click.option(
        f"--{prefix}max-age",
        "max_age",
        metavar="AGE",
        help="drop backups older than this: 36h, 30d, 8w, 6mo, 1y",
    )(command)
    command = click.option(
        f"--{prefix}keep-last",
        "keep_last",
        type=int,
        metavar="N",
        help="keep at most N backups",
    )(command)
    return click.option(
        f"--{prefix}schedule",
        "schedule",
        metavar="CRON",
        help="when scheduled backups run: a cron expression or @daily, @hourly, ...",
    )(command)


def policy_body(
    *, schedule: str | None, keep_last: int | None, max_age: str | None, pitr: bool | None
) -> dict[str, Any] | None:
    """The `backup` field the flags given ask for; None when no flag was given."""
    policy: dict[str, Any] = {}
    if schedule is not None:
        policy["schedule"] = schedule
    retention = {k: v for k, v in (("keep_last", keep_last), ("max_age", max_age)) if v is not None}
    if retention:
        policy["retention"] = retention
    if pitr is not None:
        policy["pitr"] = pitr
    return policy or None


def merged(current: dict[str, Any] | None, change: dict[str, Any]) -> dict[str, Any]:
    """`change` laid over `current` (retention merged key by key)."""
    result = dict(current or {})
    for key, value in change.items():
        if key == "retention":
            result[key] = {**(result.get(key) or {}), **value}
        else:
            result[key] = value
    return result


def describe(policy: dict[str, Any] | None) -> str:
    """'0 2 * * * (keep last 7, max age 30d, point-in-time recovery)', or 'none'."""
    if not policy:
        return "none"
    retention = policy.get("retention") or {}
    kept = []
    if retention.get("keep_last") is not None:
        kept.append(f"keep last {retention['keep_last']}")
    if retention.get("max_age") is not None:
        kept.append(f"max age {retention['max_age']}")
    if policy.get("pitr"):
        kept.append("point-in-time recovery")
    return f"{policy['schedule']}" + (f" ({', '.join(kept)})" if kept else "")

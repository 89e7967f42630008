"""`dbaas backup create|list|get`: on-demand backups and the backups a database has; and
`dbaas db backup-policy`, a database's scheduled backups (its `backup` field).

A backup is taken by an operation (type `backup`); `create --wait` follows that operation
the way `db scale --wait` does, then prints the backup it produced. Databases are named by
name or id; a backup only by its id (backups have no name). Filters the API validates
(state, origin) are passed through as typed, so its 422 and field errors are what the user
sees, and a new state on the server needs no new client.
"""

from __future__ import annotations

import functools
import sys

import click

from services.client import backup_policy, output, waiting
from services.client.api import Api, ClientFailure, JSONObject
from services.client.commands import after_change, connection, database_argument, waits

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _time(value: object) -> str | None:
    return None if value is None else str(value)[:19].replace("T", " ")


def _size(size_bytes: object) -> str | None:
    """1536 -> '1.5 KiB': binary units, as Kubernetes quantities count storage."""
    if not isinstance(size_bytes, int):
        return None
    size = float(size_bytes)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{size_bytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _error(backup: JSONObject) -> str | None:
    error = backup.get("error")
    return None if error is None else str(error)


def backup_columns(names: dict[str, str]) -> list[output.Column]:
    """The table's columns; `names` maps database ids to names (a deleted one shows its id)."""
    return [
        ("ID", lambda b: b["id"]),
        ("DATABASE", lambda b: names.get(b["database_id"], b["database_id"])),
        ("ORIGIN", lambda b: b["origin"]),
        ("STATE", lambda b: b["state"]),
        ("STARTED", lambda b: _time(b["started_at"])),
        ("COMPLETED", lambda b: _time(b["completed_at"])),
        ("SIZE", lambda b: _size(b["size_bytes"])),
        ("ERROR", _error),
    ]


def _backup_fields(backup: JSONObject, database_name: str | None = None) -> None:
    database = backup["database_id"]
    output.fields(
        [
            ("id", backup["id"]),
            ("database", f"{database_name} ({database})" if database_name else database),
            ("origin", backup["origin"]),
            ("state", backup["state"]),
            ("started", _time(backup["started_at"])),
            ("completed", _time(backup["completed_at"])),
            ("size", _size(backup["size_bytes"])),
            ("snapshot", backup.get("snapshot")),
            ("error", _error(backup)),
            ("operation", backup["operation_id"]),
            ("created", _time(backup["created_at"])),
        ]
    )


def _show_backup(api: Api, backup: JSONObject, fmt: str) -> None:
    if fmt != "table":
        output.dump(backup, fmt)
        return
    database = api.database_or_none(backup["database_id"])
    _backup_fields(backup, database["name"] if database else None)


class BackupFailed(ClientFailure):
    pass


@click.group(name="backup", help="take backups now and list the ones a database has")
def backup() -> None:
    pass


@backup.command(name="create", help="back a database up now")
@database_argument
@waits
@connection
def backup_create(api: Api, database: str, wait: bool, timeout: float, fmt: str) -> None:
    found = api.database(database)
    accepted = api.send("POST", f"/v1/databases/{found['id']}/backups")
    operation = accepted["operation"]
    if not wait:
        if fmt != "table":
            output.dump(accepted, fmt)
            return
        sys.stdout.write(
            f"{found['name']}: backup {accepted['id']} {accepted['state']} "
            f"(operation {operation['id']})\n"
        )
        return
    with waiting.Progress() as progress:
        try:
            waiting.operation(api, operation, progress, timeout=timeout)
        finally:
            taken = api.get(f"/v1/backups/{accepted['id']}")
    if taken["state"] != "succeeded":
        raise BackupFailed(
            f"backup {taken['id']} of {found['name']} {taken['state']}: "
            f"{_error(taken) or 'no reason given'}"
        )
    _show_backup(api, taken, fmt)


@backup.command(name="list", help="backups, newest first")
@click.option("--db", "database", metavar="NAME", help="only this database's (name or id)")
@click.option("--state", help="pending, running, succeeded or failed")
@click.option("--origin", help="manual (backup create) or schedule (the backup policy)")
@connection
def backup_list(
    api: Api, database: str | None, state: str | None, origin: str | None, fmt: str
) -> None:
    query: dict[str, str | int] = {k: v for k, v in (("state", state), ("origin", origin)) if v}
    names: dict[str, str] = {}
    if database:
        found = api.database(database)
        query["database_id"] = found["id"]
        names[found["id"]] = found["name"]
    items = list(api.pages("/v1/backups", **query))
    if fmt != "table":
        output.dump({"items": items}, fmt)
        return
    if not items:
        sys.stderr.write("no backups\n")
        return
    if not database:
        names = {db["id"]: db["name"] for db in api.pages("/v1/databases")}
    output.table(items, backup_columns(names))


@backup.command(name="get", help="one backup, by its id")
@click.argument("backup_id", metavar="ID")
@connection
def backup_get(api: Api, backup_id: str, fmt: str) -> None:
    _show_backup(api, api.get(f"/v1/backups/{backup_id}"), fmt)


@click.command(
    name="backup-policy",
    help="show or change a database's scheduled backups (no option: show them)",
)
@database_argument
@functools.partial(backup_policy.policy_options, prefix="", pitr_off=True)
@click.option("--off", is_flag=True, help="no more scheduled backups (the taken ones stay)")
@waits
@connection
def backup_policy_command(
    api: Api,
    database: str,
    schedule: str | None,
    keep_last: int | None,
    max_age: str | None,
    pitr: bool | None,
    off: bool,
    wait: bool,
    timeout: float,
    fmt: str,
) -> None:
    found = api.database(database, full=True)
    etag = api.last_etag  # a concurrent change to the database fails the PATCH (412)
    policy = backup_policy.policy_body(
        schedule=schedule, keep_last=keep_last, max_age=max_age, pitr=pitr
    )
    if off and policy is not None:
        raise click.UsageError("--off turns scheduled backups off: give it alone")
    if not off and policy is None:
        current = found.get("backup")
        if fmt != "table":
            output.dump(current, fmt)
        else:
            sys.stdout.write(f"{found['name']}: {backup_policy.describe(current)}\n")
        return
    if policy is not None:
        policy = backup_policy.merged(found.get("backup"), policy)
    headers = {"If-Match": etag} if etag else None
    accepted = api.request(
        "PATCH", f"/v1/databases/{found['id']}", json={"backup": policy}, headers=headers
    )
    assert accepted is not None
    after_change(api, accepted, fmt, wait=wait, timeout=timeout)
    if fmt == "table" and not wait:
        sys.stdout.write(f"{found['name']}: {backup_policy.describe(accepted.get('backup'))}\n")

"""`dbaas db restore`: a new database from a backup, or from a point in time of a database
with point-in-time recovery (the `restore` field of POST /v1/databases).

The new database's engine, version, replicas and storage default to the source database's,
so `dbaas db restore copy --from-backup ID` is enough; a flag overrides one (the API says
whether the source can be restored into it: same engine, same major, not older).
"""

from __future__ import annotations

import click

from services.client.api import Api, ClientFailure, JSONObject
from services.client.commands import after_change, connection, waits


@click.command(
    name="restore",
    help="make a new database from a backup, or from a point in time of another database",
)
@click.argument("name")
@click.option("--from-backup", "backup_id", metavar="ID", help="a succeeded backup's id")
@click.option("--from-db", "source", metavar="NAME", help="a database with --pitr (name or id)")
@click.option("--at", "point_in_time", metavar="TIME", help="with --from-db: RFC 3339 time")
@click.option("--engine", help="[default: the source's]")
@click.option("--version", help="same major, not older than the source's [default: the source's]")
@click.option("--replicas", type=int, help="[default: the source's]")
@click.option("--storage", help="[default: the source's]")
@waits
@connection
def restore(
    api: Api,
    name: str,
    backup_id: str | None,
    source: str | None,
    point_in_time: str | None,
    engine: str | None,
    version: str | None,
    replicas: int | None,
    storage: str | None,
    wait: bool,
    timeout: float,
    fmt: str,
) -> None:
    if (backup_id is None) == (source is None):
        raise click.UsageError(
            "say what to restore from: --from-backup ID or --from-db NAME --at TIME"
        )
    if source is not None and point_in_time is None:
        raise click.UsageError("--from-db needs --at TIME (a point in its restorable window)")
    if backup_id is not None and point_in_time is not None:
        raise click.UsageError("--at goes with --from-db; a backup is restored as it was taken")
    if backup_id is not None:
        taken = api.get(f"/v1/backups/{backup_id}")
        origin = api.database_or_none(taken["database_id"])
        what: JSONObject = {"backup_id": taken["id"]}
    else:
        assert source is not None
        origin = api.database(source)
        what = {"database_id": origin["id"], "point_in_time": point_in_time}
    given = {"engine": engine, "version": version, "replicas": replicas, "storage": storage}
    body: JSONObject = {"name": name}
    for field, value in given.items():
        if value is None and origin is not None:
            value = origin[field]
        if value is not None:
            body[field] = value
    if origin is None and any(body.get(f) is None for f in ("engine", "version", "storage")):
        raise ClientFailure(
            "the backup's database is deleted, so its engine, version and storage are not "
            "known here: pass --engine, --version and --storage"
        )
    body["restore"] = what
    accepted = api.send("POST", "/v1/databases", body)
    after_change(api, accepted, fmt, wait=wait, timeout=timeout)

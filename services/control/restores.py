"""Use case: create a database from a backup or from a point in time of another database.

Why a use case of its own: the source must be found in the caller's project only (another
project's backup or database is "not found", never "forbidden": its existence is not
leaked), checked against the new database (`domain.restores`), and the new database
recorded with its one `restore` operation in the same transaction as any create
(`databases.create_database`): the row first, then the worker creates the database CR that
waits for its data and the RestoreSession (or the archiver recovery) that brings it.
Nothing here talks to Kubernetes: the restorable window was recorded by status-sync.
"""

from __future__ import annotations

from typing import Any

from services.clients.postgres import Connection
from services.control import databases as database_cases
from services.control import errors
from services.control.backups import storage_of
from services.domain import quotas, restores, specs
from services.domain.engines import Engine
from services.domain.records import DatabaseRecord, Principal
from services.domain.restores import RestoreRequest
from services.store import backups, databases, windows


def restore_database(
    conn: Connection,
    principal: Principal,
    spec: specs.DatabaseSpec,
    request: RestoreRequest,
    *,
    storage: str | None,
    quota: quotas.Limits | None = None,
) -> database_cases.Accepted:
    """Record database `spec` restored as `request` asks; 404 for a source not in the
    project, 422 restore-not-possible with a `reason` when it cannot be restored."""
    storage_of(storage)  # restores need KubeStash, which dbaas uses only with a storage
    with conn.transaction():
        params = _checked(conn, principal, spec, request)
        return database_cases.create_database(
            conn, principal, spec, quota=quota, restore=params, backup_storage=storage
        )


def _checked(
    conn: Connection, principal: Principal, spec: specs.DatabaseSpec, request: RestoreRequest
) -> dict[str, Any]:
    project = principal.project_id
    if request.backup_id is not None:
        backup = backups.get(conn, project, request.backup_id)
        if backup is None:
            raise errors.NotFound(f"backup {request.backup_id} not found")
        record = databases.get(conn, project, backup.database_id)
        assert record is not None  # a backup's database row is never removed
        source = _source(record, window=None)
        refusal = restores.refuse_backup(backup, source, engine=spec.engine, version=spec.version)
        _refuse(refusal)
        return _params(record, backup_id=str(backup.id), snapshot=backup.snapshot)
    assert request.database_id is not None and request.point_in_time is not None
    record = databases.get(conn, project, request.database_id)
    if record is None or record.state == "deleted":
        raise errors.NotFound(f"database {request.database_id} not found")
    source = _source(record, window=windows.get(conn, record.id))
    moment = request.point_in_time
    _refuse(restores.refuse_point_in_time(source, moment, engine=spec.engine, version=spec.version))
    return _params(record, point_in_time=restores.rfc3339(moment))


def _source(record: DatabaseRecord, *, window: restores.Window | None) -> restores.Source:
    return restores.Source(record.id, record.name, Engine(record.engine), record.version, window)


def _refuse(refusal: restores.Refusal | None) -> None:
    if refusal is not None:
        raise errors.RestoreNotPossible(refusal.detail, reason=refusal.reason)


def _params(record: DatabaseRecord, **restore: Any) -> dict[str, Any]:
    """The `restore` params of the operation: what the worker renders from."""
    return {
        "source_database_id": str(record.id),
        "source_name": record.name,
        "source_engine": record.engine,
        **{key: value for key, value in restore.items() if value is not None},
    }

"""Use cases on backups: an on-demand backup is one transaction that records the `backup`
operation (the outbox), the pending `backups` row and the event.

Why the row exists before the cluster knows anything: the API answers with the backup's id
at once, and the row already names the BackupSession the worker will create (derived from
the operation id), so status-sync's observations update this row instead of making another
one. The operation queues behind the database's other operations like any change: a backup
of a database being resized waits for the resize. Nothing here talks to Kubernetes.
"""

from __future__ import annotations

import dataclasses
import uuid

from services.clients.postgres import Connection
from services.control import databases as database_cases
from services.control import errors
from services.control import quotas as quota_checks
from services.domain import backup_manifests, quotas
from services.domain.backups import BackupRecord
from services.domain.engines import Engine
from services.domain.planning import OperationType
from services.domain.records import OperationRecord, Principal
from services.store import backups, events, operations, projects


@dataclasses.dataclass(frozen=True)
class BackupAccepted:
    backup: BackupRecord
    operation: OperationRecord


def storage_of(setting: str | None) -> backup_manifests.ObjectRef:
    """The configured BackupStorage; refuses clearly when the platform set none."""
    if setting is None:
        raise errors.BackupsNotConfigured(
            "backups are not configured on this server: the platform team must create a "
            "KubeStash BackupStorage and set DBAAS_BACKUP_STORAGE=namespace/name"
        )
    return backup_manifests.parse_object_ref(setting)


def take_backup(
    conn: Connection,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    storage: str | None,
    quota: quotas.Limits | None = None,
) -> BackupAccepted:
    """Queue an on-demand backup of the database (409 while it is being deleted)."""
    ref = storage_of(storage)
    with conn.transaction():
        record = database_cases.live_for_update(conn, principal, database_id)
        database_cases.refuse_if_gone(record)
        if quota is not None:
            quota_checks.check_queue(
                conn, principal.project_id, record.id, defaults=quota, adding=1
            )
        backup_id = uuid.uuid4()
        operation = operations.insert(
            conn,
            database_id=record.id,
            project_id=record.project_id,
            type=OperationType.BACKUP,
            generation=record.generation,
            params={"backup_id": str(backup_id), "storage": str(ref)},
            requested_by=principal.actor,
        )
        names = backup_manifests.BackupNames(
            record.name, record.id, projects.namespace_for(record.project_id), Engine(record.engine)
        )
        backup = backups.insert_manual(
            conn,
            backup_id=backup_id,
            project_id=record.project_id,
            database_id=record.id,
            operation_id=operation.id,
            backup_session=names.backup_session(operation.id),
        )
        events.record(
            conn,
            project_id=record.project_id,
            database_id=record.id,
            operation_id=operation.id,
            actor=principal.actor,
            kind="backup.requested",
            message=f"backup {backup_id} of {record.name} requested",
            details={"backup_id": str(backup_id)},
        )
    return BackupAccepted(backup, operation)

"""Use cases on databases: each is one transaction that changes the desired spec and writes
the operations (the outbox) and events that go with it.

Callers enqueue the returned operations only after the transaction commits; if that enqueue
is lost, status-sync's sweeper dispatches them again. Nothing here talks to Kubernetes.

With `quota` (the server's default limits; the API passes them) a create or a growth is
checked against the project's quotas, and an operation against its database's queue
bound, in the same transaction and under the project's lock (`control.quotas`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from services.clients.postgres import Connection
from services.control import errors
from services.control import quotas as quota_checks
from services.domain import backup_manifests, quotas, specs
from services.domain.planning import (
    CREATING_TYPES,
    OperationType,
    PlannedOperation,
    plan_backup_policy,
)
from services.domain.records import DatabaseRecord, OperationRecord, OperationState, Principal
from services.domain.versions import CatalogVersion
from services.store import backups, databases, events, operations
from services.store import quotas as quota_store

Catalog = Mapping[str, Sequence[CatalogVersion]]
GONE_STATES = ("deleting", "deleted")
SIZE_FIELDS = frozenset({"replicas", "storage", "resources"})  # body keys that size it


def size_of(spec: specs.DatabaseSpec | DatabaseRecord) -> quotas.Size:
    return quotas.size_of(
        replicas=spec.replicas, storage=spec.storage, cpu=spec.cpu, memory=spec.memory
    )


@dataclasses.dataclass(frozen=True)
class Accepted:
    database: DatabaseRecord
    operations: list[OperationRecord]


def spec_of(record: DatabaseRecord) -> specs.DatabaseSpec:
    return specs.DatabaseSpec.from_columns(dataclasses.asdict(record))


def desired_of(spec: specs.DatabaseSpec) -> dict[str, Any]:
    return {
        "version": spec.version,
        "replicas": spec.replicas,
        "storage": spec.storage,
        "cpu": spec.cpu,
        "memory": spec.memory,
        "deletion_policy": spec.deletion_policy,
        "drift_policy": spec.drift_policy,
        "backup": None if spec.backup is None else spec.backup.public(),
    }


def with_storage(planned: PlannedOperation, storage: str | None) -> PlannedOperation:
    """A `backup_policy` operation names the BackupStorage its objects point at (the
    setting as it is when the change is accepted, as an on-demand backup records it). A
    policy needs one: without the setting it is refused (503), not accepted and failed
    later; pausing (null) needs none."""
    if planned.type != OperationType.BACKUP_POLICY:
        return planned
    if planned.params.get("backup") is None and storage is None:
        return planned
    ref = backup_manifests.parse_object_ref(storage) if storage else None
    if ref is None:
        raise errors.BackupsNotConfigured(
            "scheduled backups are not configured on this server: the platform team must "
            "create a KubeStash BackupStorage and set DBAAS_BACKUP_STORAGE=namespace/name"
        )
    return dataclasses.replace(planned, params=planned.params | {"storage": str(ref)})


def create_database(
    conn: Connection,
    principal: Principal,
    spec: specs.DatabaseSpec,
    *,
    quota: quotas.Limits | None = None,
    restore: Mapping[str, Any] | None = None,
    backup_storage: str | None = None,
) -> Accepted:
    """Record the database and its first operation: `create`, or with `restore` (what
    `control.restores` checked: the source and what to load) a `restore` that creates the
    database from it; with a backup policy, a `backup_policy` operation queued behind it
    (KubeStash backs up a running database)."""
    policy = None
    if spec.backup is not None:
        policy = with_storage(plan_backup_policy(spec, previous=None), backup_storage)
    with conn.transaction():
        try:
            record = databases.insert(
                conn,
                database_id=uuid.uuid4(),
                project_id=principal.project_id,
                name=spec.name,
                engine=spec.engine,
                desired=desired_of(spec),
            )
        except databases.NameTaken as exc:
            raise errors.NameConflict(
                f"a database named {spec.name!r} already exists in project "
                f"{principal.project_id!r}",
                name=spec.name,
            ) from exc
        # After the insert, so a clash of names is refused without waiting on the
        # project's lock; the new row is visible to no one else while it waits.
        if quota is not None:
            quota_checks.check_growth(
                conn,
                principal.project_id,
                defaults=quota,
                new=size_of(spec),
                database_id=record.id,
            )
        params = desired_of(spec)
        message = f"{spec.engine} {spec.name} {spec.version} requested"
        if restore is not None:
            params["restore"] = dict(restore)
            what = restore.get("point_in_time") or f"backup {restore.get('backup_id')}"
            message += f", restored from {restore['source_name']} ({what})"
        operation = operations.insert(
            conn,
            database_id=record.id,
            project_id=record.project_id,
            type=OperationType.CREATE if restore is None else OperationType.RESTORE,
            generation=record.generation,
            params=params,
            requested_by=principal.actor,
        )
        events.record_for_operation(
            conn,
            operation,
            actor=principal.actor,
            kind="database.create-requested" if restore is None else "database.restore-requested",
            message=message,
        )
        created = [operation]
        if policy is not None:
            created.append(
                operations.insert(
                    conn,
                    database_id=record.id,
                    project_id=record.project_id,
                    type=policy.type,
                    generation=record.generation,
                    params=policy.params,
                    previous=policy.previous,
                    requested_by=principal.actor,
                )
            )
    return Accepted(record, created)


def _live(conn: Connection, principal: Principal, database_id: uuid.UUID) -> DatabaseRecord:
    record = databases.get(conn, principal.project_id, database_id, for_update=True)
    if record is None or record.state == "deleted":
        raise errors.NotFound(f"database {database_id} not found")
    return record


def live_for_update(
    conn: Connection, principal: Principal, database_id: uuid.UUID
) -> DatabaseRecord:
    """The project's database, its row locked; 404 when it does not exist or is deleted."""
    return _live(conn, principal, database_id)


def refuse_if_gone(record: DatabaseRecord) -> None:
    """409 database-deleting while it is being (or has been) deleted."""
    _refuse_if_gone(record)


def _check_etag(record: DatabaseRecord, if_match: str | None) -> None:
    if if_match is None:
        return
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" not in candidates and record.etag not in candidates:
        # ETags are quoted strings (RFC 9110): a bare value never matches, so say so.
        unquoted = [tag for tag in candidates if tag and not tag.startswith(('"', 'W/"'))]
        hint = (
            f"; ETags are quoted: send If-Match: {record.etag} (quotes included)"
            if unquoted
            else "; GET the database for its current ETag"
        )
        raise errors.PreconditionFailed(
            f"If-Match {if_match} does not match the current ETag {record.etag}{hint}",
            current_etag=record.etag,
        )


def _refuse_if_gone(record: DatabaseRecord) -> None:
    if record.state in GONE_STATES:
        raise errors.DatabaseDeleting(f"database {record.name!r} is being deleted")


def update_database(
    conn: Connection,
    principal: Principal,
    database_id: uuid.UUID,
    body: object,
    *,
    if_match: str | None,
    catalog: Catalog,
    quota: quotas.Limits | None = None,
    backup_storage: str | None = None,
) -> Accepted:
    """Validate a merge patch against the locked row, so concurrent PATCHes never lose one."""
    with conn.transaction():
        sizing = quota is not None and isinstance(body, dict) and bool(SIZE_FIELDS & body.keys())
        if sizing:  # the project before the database (databases.LOCK_ORDER)
            quota_store.lock_project(conn, principal.project_id)
        record = _live(conn, principal, database_id)
        _check_etag(record, if_match)
        change = specs.validate_patch(spec_of(record), body, catalog=catalog)
        planned = [with_storage(step, backup_storage) for step in change.operations]
        changes = {
            field: value
            for field, value in desired_of(change.spec).items()
            if value != getattr(record, field)
        }
        if not changes:
            return Accepted(record, [])
        _refuse_if_gone(record)
        if not planned:  # dbaas-only settings (drift policy): no generation, no operation
            conn.execute(
                "UPDATE databases SET drift_policy = %s, updated_at = now() WHERE id = %s",
                (change.spec.drift_policy, record.id),
            )
            refreshed = databases.get(conn, principal.project_id, record.id)
            assert refreshed is not None
            return Accepted(refreshed, [])
        if quota is not None:
            if sizing:
                quota_checks.check_growth(
                    conn,
                    principal.project_id,
                    defaults=quota,
                    new=size_of(change.spec),
                    old=size_of(record),
                    database_id=record.id,
                )
            quota_checks.check_queue(
                conn, principal.project_id, record.id, defaults=quota, adding=len(planned)
            )
        updated = databases.update_desired(conn, record.id, changes=changes, state="updating")
        created = [
            operations.insert(
                conn,
                database_id=record.id,
                project_id=record.project_id,
                type=step.type,
                generation=updated.generation,
                params=step.params,
                previous=step.previous,
                requested_by=principal.actor,
            )
            for step in planned
        ]
        events.record(
            conn,
            project_id=record.project_id,
            database_id=record.id,
            actor=principal.actor,
            kind="database.update-requested",
            message=", ".join(
                f"{field} {_shown(getattr(record, field))}→{_shown(value)}"
                for field, value in changes.items()
            ),
            details={"changes": changes, "operations": [str(op.id) for op in created]},
        )
    return Accepted(updated, created)


def _shown(value: Any) -> Any:
    """A desired value as an event message says it: a backup policy by its schedule."""
    if isinstance(value, dict) and "schedule" in value:
        pitr = " with PITR" if value.get("pitr") else ""
        return f"schedule {value['schedule']!r}{pitr}"
    return value


def delete_database(
    conn: Connection, principal: Principal, database_id: uuid.UUID, *, if_match: str | None
) -> Accepted:
    """Queue the deletion; pending operations queued before it become moot and are cancelled."""
    with conn.transaction():
        record = _live(conn, principal, database_id)
        _check_etag(record, if_match)
        _refuse_if_gone(record)
        if record.deletion_policy == "DoNotTerminate":
            raise errors.DeletionProtected(
                f"database {record.name!r} has deletion_policy DoNotTerminate; "
                "change deletion_policy before deleting it"
            )
        for pending in operations.open_for_database(conn, record.id):
            if pending.state == OperationState.PENDING and pending.type not in CREATING_TYPES:
                operations.finish(
                    conn,
                    pending.id,
                    state=OperationState.CANCELLED,
                    from_states=(OperationState.PENDING,),
                    error={"detail": "superseded by a deletion"},
                )
                backups.abandon(conn, [pending.id], "cancelled: the database is being deleted")
        operation = operations.insert(
            conn,
            database_id=record.id,
            project_id=record.project_id,
            type=OperationType.DELETE,
            generation=record.generation,
            params={"deletion_policy": record.deletion_policy},
            requested_by=principal.actor,
        )
        databases.set_state(conn, record.id, "deleting")
        events.record_for_operation(
            conn,
            operation,
            actor=principal.actor,
            kind="database.delete-requested",
            message=f"delete {record.name} (deletion_policy {record.deletion_policy})",
        )
        updated = databases.get(conn, principal.project_id, record.id)
        assert updated is not None
    return Accepted(updated, [operation])


def restart_database(
    conn: Connection,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    quota: quotas.Limits | None = None,
) -> Accepted:
    with conn.transaction():
        record = _live(conn, principal, database_id)
        if quota is not None:
            quota_checks.check_queue(
                conn, principal.project_id, record.id, defaults=quota, adding=1
            )
        _refuse_if_gone(record)
        operation = operations.insert(
            conn,
            database_id=record.id,
            project_id=record.project_id,
            type=OperationType.RESTART,
            generation=record.generation,
            requested_by=principal.actor,
        )
        events.record_for_operation(
            conn,
            operation,
            actor=principal.actor,
            kind="database.restart-requested",
            message=f"restart {record.name}",
        )
    return Accepted(record, [operation])

"""The JSON shapes of the API's resources, built from store records (see openapi.py).

Pure functions from immutable records (or, for list pages, rows of plain values) to dicts;
no I/O. Ids and timestamps stay UUID and datetime objects: `encoding` writes them (RFC 3339,
`Z` for UTC) faster than Python could format them here. Field names are the external
contract: add fields freely, never rename or drop one.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from services.domain.backups import BackupRecord
from services.domain.records import DatabaseRecord, EventRecord, OperationRecord
from services.domain.restores import Window

V1 = "/v1"


def database_path(database_id: object) -> str:
    return f"{V1}/databases/{database_id}"


def operation_path(operation_id: object) -> str:
    return f"{V1}/operations/{operation_id}"


DATABASE_COLUMNS = (
    "id",
    "name",
    "engine",
    "version",
    "replicas",
    "storage",
    "cpu",
    "memory",
    "deletion_policy",
    "drift_policy",
    "backup",
    "generation",
    "state",
    "phase",
    "observed_generation",
    "observed_spec",
    "endpoint",
    "conditions",
    "status_message",
    "synced_at",
    "created_at",
    "updated_at",
)
"""The columns a database's representation shows, in the order `database_row` takes them."""


def database_row(row: Sequence[Any]) -> dict[str, Any]:
    """A database from the values of `DATABASE_COLUMNS`: the list's path, one per row."""
    (
        database_id,
        name,
        engine,
        version,
        replicas,
        storage,
        cpu,
        memory,
        deletion_policy,
        drift_policy,
        backup,
        generation,
        state,
        phase,
        observed_generation,
        observed_spec,
        endpoint,
        conditions,
        status_message,
        synced_at,
        created_at,
        updated_at,
    ) = row
    path = f"{V1}/databases/{database_id}"
    return {
        "id": database_id,
        "name": name,
        "engine": engine,
        "version": version,
        "replicas": replicas,
        "storage": storage,
        "resources": {"cpu": cpu, "memory": memory},
        "deletion_policy": deletion_policy,
        "drift_policy": drift_policy,
        "backup": backup,
        "generation": generation,
        "state": state,
        "status": {
            "phase": phase,
            "observed_generation": observed_generation,
            "observed": observed_spec,
            "endpoint": endpoint,
            "conditions": conditions,
            "message": status_message,
            "synced_at": synced_at,
        },
        "created_at": created_at,
        "updated_at": updated_at,
        "links": {
            "self": path,
            "operations": path + "/operations",
            "events": path + "/events",
            "credentials": path + "/credentials",
            "backups": path + "/backups",
        },
    }


_DATABASE_VALUES = operator.attrgetter(*DATABASE_COLUMNS)  # one C call for all the fields


def database(record: DatabaseRecord) -> dict[str, Any]:
    return database_row(_DATABASE_VALUES(record))


def database_with_window(record: DatabaseRecord, window: Window | None) -> dict[str, Any]:
    """One database as GET shows it: with its restorable window (null when not archived)."""
    return database(record) | {"restorable_window": None if window is None else window.public()}


def operation(record: OperationRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "database_id": record.database_id,
        "type": record.type,
        "state": record.state,
        "origin": record.origin,
        "params": record.params,
        "error": record.error,
        "attempt": record.attempt,
        "generation": record.generation,
        "requested_by": record.requested_by,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "links": {
            "self": operation_path(record.id),
            "database": database_path(record.database_id),
        },
    }


def accepted(record: DatabaseRecord, operations: list[OperationRecord]) -> dict[str, Any]:
    """A mutation's answer: the database as now desired, and the operations that carry it out."""
    return database(record) | {"operations": [operation(op) for op in operations]}


def event(record: EventRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "database_id": record.database_id,
        "operation_id": record.operation_id,
        "actor": record.actor,
        "kind": record.kind,
        "message": record.message,
        "details": record.details,
        "created_at": record.created_at,
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


def backup_path(backup_id: object) -> str:
    return f"{V1}/backups/{backup_id}"


def backup(record: BackupRecord) -> dict[str, Any]:
    """A backup as the API shows it (never the storage, its credentials or the password)."""
    return {
        "id": record.id,
        "database_id": record.database_id,
        "operation_id": record.operation_id,
        "origin": record.origin.value,
        "state": record.state.value,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "size_bytes": record.size_bytes,
        "snapshot": record.snapshot,
        "error": record.error,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "links": {
            "self": backup_path(record.id),
            "database": database_path(record.database_id),
        },
    }

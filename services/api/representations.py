"""The JSON shapes of the API's resources, built from store records (see openapi.py).

Pure functions from immutable records to dicts; no I/O. Ids and timestamps stay UUID and
datetime objects: `encoding` writes them (RFC 3339, `Z` for UTC) faster than Python could
format them here. Field names are the external contract: add fields freely, never rename or
drop one.
"""

from __future__ import annotations

from typing import Any

from services.store.records import DatabaseRecord, EventRecord, OperationRecord

V1 = "/v1"


def database_path(database_id: object) -> str:
    return f"{V1}/databases/{database_id}"


def operation_path(operation_id: object) -> str:
    return f"{V1}/operations/{operation_id}"


def database(record: DatabaseRecord) -> dict[str, Any]:
    path = database_path(record.id)
    return {
        "id": record.id,
        "name": record.name,
        "engine": record.engine,
        "version": record.version,
        "replicas": record.replicas,
        "storage": record.storage,
        "resources": {"cpu": record.cpu, "memory": record.memory},
        "deletion_policy": record.deletion_policy,
        "drift_policy": record.drift_policy,
        "generation": record.generation,
        "state": record.state,
        "status": {
            "phase": record.phase,
            "observed_generation": record.observed_generation,
            "observed": record.observed_spec,
            "endpoint": record.endpoint,
            "conditions": record.conditions,
            "message": record.status_message,
            "synced_at": record.synced_at,
        },
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "links": {
            "self": path,
            "operations": f"{path}/operations",
            "events": f"{path}/events",
            "credentials": f"{path}/credentials",
        },
    }


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

"""The audit trail: who asked what, and what the system did. Append-only."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from services.clients.postgres import Connection
from services.domain.records import EventRecord, OperationRecord


def record(
    conn: Connection,
    *,
    project_id: str,
    actor: str,
    kind: str,
    message: str,
    database_id: uuid.UUID | None = None,
    operation_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (project_id, database_id, operation_id, actor, kind, message, details)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (project_id, database_id, operation_id, actor, kind, message, Jsonb(details or {})),
    )


def record_for_operation(
    conn: Connection,
    operation: OperationRecord,
    *,
    actor: str,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> None:
    """`record` an event about one operation: its project, database and id."""
    record(
        conn,
        project_id=operation.project_id,
        database_id=operation.database_id,
        operation_id=operation.id,
        actor=actor,
        kind=kind,
        message=message,
        details=details,
    )


def for_database(
    conn: Connection, database_id: uuid.UUID, *, after_id: int = 0, limit: int = 100
) -> list[EventRecord]:
    rows = conn.execute(
        "SELECT * FROM events WHERE database_id = %s AND id > %s ORDER BY id LIMIT %s",
        (database_id, after_id, limit),
    ).fetchall()
    return [EventRecord.from_row(row) for row in rows]


def of_kind(conn: Connection, kind: str, *, project_id: str | None = None) -> list[EventRecord]:
    rows = conn.execute(
        "SELECT * FROM events WHERE kind = %(k)s"
        " AND (%(p)s::text IS NULL OR project_id = %(p)s) ORDER BY id",
        {"k": kind, "p": project_id},
    ).fetchall()
    return [EventRecord.from_row(row) for row in rows]

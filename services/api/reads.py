"""The read side: one project-scoped store query per request, shaped for JSON.

Each function takes `(conn, principal, ...)` and runs in a worker thread through
`Backends.call`; the two hottest reads also have `async` twins (`*_async`) for
`Backends.read`, which share everything but the query call with their sync function.
Scoping is always by the caller's project, so another project's resource answers exactly
like a missing one (404): existence never leaks. Lists fetch one row more than the page to
know whether a next page exists.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from services.api import problems, query_params, representations
from services.clients.postgres import AsyncConnection, Connection
from services.domain.backups import PITR_ENGINES
from services.domain.records import DatabaseRecord, OperationRecord, Principal
from services.domain.restores import Window
from services.store import databases, events, operations, windows

PITR_ENGINE_NAMES = frozenset(engine.value for engine in PITR_ENGINES)
DATABASES_CURSOR, OPERATIONS_CURSOR, EVENTS_CURSOR = "databases", "operations", "events"
_ID = representations.DATABASE_COLUMNS.index("id")  # a list row's keyset position
_CREATED_AT = representations.DATABASE_COLUMNS.index("created_at")


def _database(conn: Connection, principal: Principal, database_id: uuid.UUID) -> DatabaseRecord:
    """The project's database, deleted ones included (their history stays readable)."""
    return _found(databases.get(conn, principal.project_id, database_id), database_id)


def _found(record: DatabaseRecord | None, database_id: uuid.UUID) -> DatabaseRecord:
    if record is None:
        raise problems.not_found(f"database {database_id} not found")
    return record


def live_database(conn: Connection, principal: Principal, database_id: uuid.UUID) -> DatabaseRecord:
    """The project's database unless it is deleted (a deleted database is gone: 404)."""
    return _live(_database(conn, principal, database_id), database_id)


async def live_database_async(
    conn: AsyncConnection, principal: Principal, database_id: uuid.UUID
) -> DatabaseRecord:
    record = await databases.get_async(conn, principal.project_id, database_id)
    return _live(_found(record, database_id), database_id)


def database_with_window(
    conn: Connection, principal: Principal, database_id: uuid.UUID
) -> tuple[DatabaseRecord, Window | None]:
    """GET /v1/databases/{id}: the live database and, for an engine with point-in-time
    recovery, its restorable window (None while not archived: no second query otherwise)."""
    record = live_database(conn, principal, database_id)
    window = windows.get(conn, record.id) if record.engine in PITR_ENGINE_NAMES else None
    return record, window


async def database_with_window_async(
    conn: AsyncConnection, principal: Principal, database_id: uuid.UUID
) -> tuple[DatabaseRecord, Window | None]:
    record = await live_database_async(conn, principal, database_id)
    window = None
    if record.engine in PITR_ENGINE_NAMES:
        window = await windows.get_async(conn, record.id)
    return record, window


def _live(record: DatabaseRecord, database_id: uuid.UUID) -> DatabaseRecord:
    if record.state == "deleted":
        raise problems.not_found(f"database {database_id} not found")
    return record


def list_databases(
    conn: Connection,
    principal: Principal,
    *,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: databases.ListFilter,
) -> dict[str, Any]:
    rows = databases.list_page(
        conn,
        principal.project_id,
        columns=representations.DATABASE_COLUMNS,
        limit=limit + 1,
        after=after,
        where=where,
    )
    return _databases_page(rows, limit)


async def list_databases_async(
    conn: AsyncConnection,
    principal: Principal,
    *,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: databases.ListFilter,
) -> dict[str, Any]:
    rows = await databases.list_page_async(
        conn,
        principal.project_id,
        columns=representations.DATABASE_COLUMNS,
        limit=limit + 1,
        after=after,
        where=where,
    )
    return _databases_page(rows, limit)


def _databases_page(rows: list[tuple[Any, ...]], limit: int) -> dict[str, Any]:
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        position = {"t": last[_CREATED_AT].isoformat(), "i": str(last[_ID])}
        next_cursor = query_params.encode_cursor(DATABASES_CURSOR, position)
    return representations.page([representations.database_row(r) for r in rows], next_cursor)


def _operations_page(rows: list[OperationRecord], limit: int) -> dict[str, Any]:
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = query_params.encode_cursor(OPERATIONS_CURSOR, {"n": rows[-1].seq})
    return representations.page([representations.operation(r) for r in rows], next_cursor)


def list_operations(
    conn: Connection,
    principal: Principal,
    *,
    limit: int,
    after_seq: int | None,
    database_id: uuid.UUID | None,
    state: str | None,
) -> dict[str, Any]:
    """Operations of the project, oldest first; scoped to one database when asked."""
    rows = operations.list_page(
        conn,
        principal.project_id,
        limit=limit + 1,
        after_seq=after_seq,
        database_id=database_id,
        state=state,
    )
    return _operations_page(rows, limit)


def list_database_operations(
    conn: Connection,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    limit: int,
    after_seq: int | None,
    state: str | None,
) -> dict[str, Any]:
    _database(conn, principal, database_id)
    return list_operations(
        conn, principal, limit=limit, after_seq=after_seq, database_id=database_id, state=state
    )


def get_operation(
    conn: Connection, principal: Principal, operation_id: uuid.UUID
) -> OperationRecord:
    record = operations.get(conn, operation_id, project_id=principal.project_id)
    if record is None:
        raise problems.not_found(f"operation {operation_id} not found")
    return record


def list_events(
    conn: Connection,
    principal: Principal,
    database_id: uuid.UUID,
    *,
    limit: int,
    after_id: int | None,
) -> dict[str, Any]:
    _database(conn, principal, database_id)
    rows = events.for_database(conn, database_id, after_id=after_id or 0, limit=limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = query_params.encode_cursor(EVENTS_CURSOR, {"n": rows[-1].id})
    return representations.page([representations.event(r) for r in rows], next_cursor)

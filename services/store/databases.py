"""Database rows: the desired spec (API side) and the observed status (status-sync side).

The API writes only desired columns and `state`; status-sync writes only the observed
columns (see `reconcilers`). Never read-modify-write a whole row.

The API's two hottest reads (one database, one page) also exist as `async` twins for its
event loop; each twin runs the same query text and builds the same values as its sync
function, through the pieces they share here (`GET`, `record`, `page_request`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from services.clients.postgres import AsyncConnection, Connection
from services.domain.records import DESIRED_FIELDS, DatabaseRecord

RECORD_COLUMNS = tuple(field.name for field in dataclasses.fields(DatabaseRecord))
COLUMNS = frozenset(RECORD_COLUMNS)
GET = f"SELECT {', '.join(RECORD_COLUMNS)} FROM databases WHERE id = %s AND project_id = %s"
"""One database of a project by id; parameters `(database_id, project_id)`, rows for `record`."""
_GET_FOR_UPDATE = GET + " FOR NO KEY UPDATE"
LOCK_ORDER = """One lock order for every transaction that touches a database, its operations and
its events, so none can wait on another in a cycle (PostgreSQL's "deadlock detected"):

1. the project's Idempotency-Key (an advisory lock, `idempotency.lock`), when there is one;
   then the project row, `FOR NO KEY UPDATE`, when the change is counted against the
   project's quotas (`quotas.lock_project`; a create takes it just after inserting its
   row, which no other transaction can see, let alone wait on);
2. the database row, `FOR NO KEY UPDATE` (`get(..., for_update=True)`, `lock`): never plain
   `FOR UPDATE`, which also blocks the `FOR KEY SHARE` that every foreign-key check of an
   event or operation insert takes on it (the worker's claim inserts its event that way);
3. its operations, in `seq` order (`operations.open_for_database` reads them so; a single
   statement that updates several locks them in that order too);
4. events last (inserts only).

A statement that locks one operation alone, in its own transaction (the worker's claim,
lease extension, hand-over), holds nothing else and cannot close a cycle. Whoever needs
an operation's database locks the database first (`lock`), then the operation. What
still meets a serialization or deadlock failure is retried whole
(`clients.postgres.retry_conflicts`)."""


class NameTaken(Exception):
    """Another live database of the project has this name."""


@dataclasses.dataclass(frozen=True)
class ListFilter:
    engine: str | None = None
    state: str | None = None
    name: str | None = None


def insert(
    conn: Connection,
    *,
    database_id: uuid.UUID,
    project_id: str,
    name: str,
    engine: str,
    desired: dict[str, Any],
) -> DatabaseRecord:
    try:
        with conn.transaction():  # a savepoint: a name clash must not poison the caller's tx
            row = conn.execute(
                "INSERT INTO databases (id, project_id, name, engine, version, replicas, storage,"
                " cpu, memory, deletion_policy, drift_policy, backup)"
                " VALUES (%(id)s, %(project)s, %(name)s, %(engine)s, %(version)s, %(replicas)s,"
                " %(storage)s, %(cpu)s, %(memory)s, %(deletion_policy)s, %(drift_policy)s,"
                " %(backup)s) RETURNING *",
                {"id": database_id, "project": project_id, "name": name, "engine": engine}
                | {field: _bindable(desired.get(field)) for field in DESIRED_FIELDS},
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise NameTaken(name) from exc
    assert row is not None
    return DatabaseRecord.from_row(row)


def _bindable(value: Any) -> Any:
    """A desired value as psycopg binds it: the backup policy (a dict) as jsonb."""
    return Jsonb(value) if isinstance(value, dict) else value


def record(row: tuple[Any, ...] | None) -> DatabaseRecord | None:
    """The record of a `GET` row (a tuple of `RECORD_COLUMNS`), None for no row."""
    return None if row is None else DatabaseRecord(*row)


def get(
    conn: Connection, project_id: str, database_id: uuid.UUID, *, for_update: bool = False
) -> DatabaseRecord | None:
    query = _GET_FOR_UPDATE if for_update else GET
    # The record's fields by name, in its order, so the row fills it positionally: every
    # GET of one database pays for this, and a dict per row cost more than the query.
    with conn.cursor(row_factory=tuple_row) as cursor:
        return record(cursor.execute(query, (database_id, project_id)).fetchone())


async def get_async(
    conn: AsyncConnection, project_id: str, database_id: uuid.UUID
) -> DatabaseRecord | None:
    """`get` without `for_update`, on an asyncio connection."""
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(GET, (database_id, project_id))
        return record(await cursor.fetchone())


def lock(conn: Connection, database_id: uuid.UUID) -> bool:
    """Step 2 of `LOCK_ORDER` for a caller that knows the database only by id; False when
    there is no such row. Inside a transaction: the lock lasts until it ends."""
    row = conn.execute(
        "SELECT 1 FROM databases WHERE id = %s FOR NO KEY UPDATE", (database_id,)
    ).fetchone()
    return row is not None


def get_by_id(conn: Connection, database_id: uuid.UUID) -> DatabaseRecord | None:
    row = conn.execute("SELECT * FROM databases WHERE id = %s", (database_id,)).fetchone()
    return None if row is None else DatabaseRecord.from_row(row)


def update_desired(
    conn: Connection, database_id: uuid.UUID, *, changes: dict[str, Any], state: str | None
) -> DatabaseRecord:
    """Apply desired-field changes, bump `generation`, optionally move the lifecycle state."""
    unknown = set(changes) - set(DESIRED_FIELDS)
    if unknown:
        raise ValueError(f"not desired fields: {sorted(unknown)}")
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(field), sql.Placeholder(field))
        for field in changes
    ]
    assignments.append(sql.SQL("generation = generation + 1, updated_at = now()"))
    if state is not None:
        assignments.append(sql.SQL("state = {}").format(sql.Placeholder("state")))
    query = sql.SQL("UPDATE databases SET {} WHERE id = {} RETURNING *").format(
        sql.SQL(", ").join(assignments), sql.Placeholder("id")
    )
    values = {field: _bindable(value) for field, value in changes.items()}
    row = conn.execute(query, values | {"state": state, "id": database_id}).fetchone()
    assert row is not None
    return DatabaseRecord.from_row(row)


def set_state(conn: Connection, database_id: uuid.UUID, state: str) -> None:
    conn.execute(
        "UPDATE databases SET state = %s, updated_at = now(),"
        " deleted_at = CASE WHEN %s = 'deleted' THEN now() ELSE deleted_at END"
        " WHERE id = %s",
        (state, state, database_id),
    )


_FILTERED = ("engine", "state", "name")


@functools.lru_cache(maxsize=64)
def _page_query(columns: tuple[str, ...], *, after: bool, filters: tuple[str, ...]) -> str:
    """The SQL of one kind of page, built once per kind (a few exist). Column and filter
    names come from code, never from a request, and are checked against the table."""
    unknown = set(columns) - COLUMNS
    if unknown:
        raise ValueError(f"not columns of databases: {sorted(unknown)}")
    clauses = ["project_id = %(project)s"]
    if after:
        clauses.append("(created_at, id) > (%(after_at)s, %(after_id)s)")
    clauses.extend(f"{column} = %({column})s" for column in filters)
    if "state" not in filters:
        clauses.append("state <> 'deleted'")
    return (
        f"SELECT {', '.join(columns)} FROM databases WHERE {' AND '.join(clauses)}"
        " ORDER BY created_at, id LIMIT %(limit)s"
    )


def page_request(
    project_id: str,
    *,
    columns: tuple[str, ...],
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: ListFilter,
) -> tuple[str, dict[str, Any]]:
    """The query text and parameters of one page (see `list_page`)."""
    params: dict[str, Any] = {"project": project_id, "limit": limit}
    if after is not None:
        params |= {"after_at": after[0], "after_id": after[1]}
    filters = tuple(column for column in _FILTERED if getattr(where, column) is not None)
    params |= {column: getattr(where, column) for column in filters}
    return _page_query(columns, after=after is not None, filters=filters), params


def list_page(
    conn: Connection,
    project_id: str,
    *,
    columns: tuple[str, ...],
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: ListFilter,
) -> list[tuple[Any, ...]]:
    """One page in (created_at, id) order, after the given position (keyset pagination).

    Rows are plain tuples of `columns`, in that order: a page is only ever shown, so the
    reader selects what it shows and builds its answer straight from the values (a record
    per row, then a dict per record, cost more than the query).
    """
    query, params = page_request(project_id, columns=columns, limit=limit, after=after, where=where)
    with conn.cursor(row_factory=tuple_row) as cursor:
        return cursor.execute(query, params).fetchall()


async def list_page_async(
    conn: AsyncConnection,
    project_id: str,
    *,
    columns: tuple[str, ...],
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: ListFilter,
) -> list[tuple[Any, ...]]:
    """`list_page` on an asyncio connection."""
    query, params = page_request(project_id, columns=columns, limit=limit, after=after, where=where)
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()

"""Database rows: the desired spec (API side) and the observed status (status-sync side).

The API writes only desired columns and `state`; status-sync writes only the observed
columns (see `reconcilers`). Never read-modify-write a whole row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import psycopg
from psycopg import sql

from services.clients.postgres import Connection
from services.store.records import DESIRED_FIELDS, DatabaseRecord


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
                " cpu, memory, deletion_policy, drift_policy)"
                " VALUES (%(id)s, %(project)s, %(name)s, %(engine)s, %(version)s, %(replicas)s,"
                " %(storage)s, %(cpu)s, %(memory)s, %(deletion_policy)s, %(drift_policy)s)"
                " RETURNING *",
                {"id": database_id, "project": project_id, "name": name, "engine": engine}
                | {field: desired.get(field) for field in DESIRED_FIELDS},
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise NameTaken(name) from exc
    assert row is not None
    return DatabaseRecord.from_row(row)


def get(
    conn: Connection, project_id: str, database_id: uuid.UUID, *, for_update: bool = False
) -> DatabaseRecord | None:
    query = "SELECT * FROM databases WHERE id = %s AND project_id = %s"
    if for_update:
        query += " FOR UPDATE"
    row = conn.execute(query, (database_id, project_id)).fetchone()
    return None if row is None else DatabaseRecord.from_row(row)


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
    row = conn.execute(query, changes | {"state": state, "id": database_id}).fetchone()
    assert row is not None
    return DatabaseRecord.from_row(row)


def set_state(conn: Connection, database_id: uuid.UUID, state: str) -> None:
    conn.execute(
        "UPDATE databases SET state = %s, updated_at = now(),"
        " deleted_at = CASE WHEN %s = 'deleted' THEN now() ELSE deleted_at END"
        " WHERE id = %s",
        (state, state, database_id),
    )


def list_page(
    conn: Connection,
    project_id: str,
    *,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
    where: ListFilter,
) -> list[DatabaseRecord]:
    """One page in (created_at, id) order, after the given position (keyset pagination)."""
    clauses: list[sql.Composable] = [sql.SQL("project_id = %(project)s")]
    params: dict[str, Any] = {"project": project_id, "limit": limit}
    if after is not None:
        clauses.append(sql.SQL("(created_at, id) > (%(after_at)s, %(after_id)s)"))
        params |= {"after_at": after[0], "after_id": after[1]}
    for column in ("engine", "state", "name"):
        value = getattr(where, column)
        if value is not None:
            condition = sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            clauses.append(condition)
            params[column] = value
    if where.state is None:
        clauses.append(sql.SQL("state <> 'deleted'"))
    query = sql.SQL(
        "SELECT * FROM databases WHERE {} ORDER BY created_at, id LIMIT %(limit)s"
    ).format(sql.SQL(" AND ").join(clauses))
    return [DatabaseRecord.from_row(row) for row in conn.execute(query, params).fetchall()]

"""Quota overrides per project, and the figures a quota check reads (under the project lock).

Every quota check of a change runs in the change's transaction after `lock_project`, so
two concurrent requests of one project count each other's databases: neither can slip
past a limit the other just reached (`databases.LOCK_ORDER`: the project comes before any
database).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.clients.postgres import Connection
from services.domain import quantities, quotas

COLUMNS = quotas.FIELDS


def lock_project(conn: Connection, project_id: str) -> None:
    """Serialise the project's quota-counted changes until the transaction ends. FOR NO KEY
    UPDATE: the foreign-key checks of inserts (KEY SHARE) do not wait on it."""
    conn.execute("SELECT 1 FROM projects WHERE id = %s FOR NO KEY UPDATE", (project_id,))


def overrides(conn: Connection, project_id: str) -> dict[str, Any]:
    """The project's own limits, parsed; {} when it has none (None values: the default)."""
    row = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM project_quotas WHERE project_id = %s", (project_id,)
    ).fetchone()
    if row is None:
        return {}
    return {
        name: quantities.parse_quantity(value)
        if name in quotas.AMOUNTS and value is not None
        else value
        for name, value in row.items()
    }


def set_overrides(conn: Connection, project_id: str, values: dict[str, Any]) -> None:
    """Set (a value) or clear (None: back to the default) some of the project's limits."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown quota(s): {', '.join(sorted(unknown))}")
    conn.execute(
        "INSERT INTO project_quotas (project_id) VALUES (%s) ON CONFLICT DO NOTHING",
        (project_id,),
    )
    for name, value in values.items():
        conn.execute(
            f"UPDATE project_quotas SET {name} = %s, updated_at = now() WHERE project_id = %s",
            (value, project_id),
        )


def live_sizes(
    conn: Connection, project_id: str, *, except_id: uuid.UUID | None = None
) -> list[quotas.Size]:
    """The size of every database of the project that is not deleted (nor `except_id`)."""
    rows = conn.execute(
        "SELECT replicas, storage, cpu, memory FROM databases"
        " WHERE project_id = %s AND state <> 'deleted' AND id IS DISTINCT FROM %s",
        (project_id, except_id),
    ).fetchall()
    return [quotas.size_of(**row) for row in rows]


def open_operations(conn: Connection, database_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM operations WHERE database_id = %s"
        " AND state IN ('pending', 'running', 'waiting')",
        (database_id,),
    ).fetchone()
    assert row is not None
    return int(row["n"])

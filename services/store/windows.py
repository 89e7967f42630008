"""The restorable windows of archived databases (`restorable_windows`, migration 0005).

status-sync writes them (`record`: one statement per changed database, nothing when the
window is the same); the API reads them to show a database's window and to check a
point-in-time restore. Never written by the API.
"""

from __future__ import annotations

import uuid

from services.clients.postgres import AsyncConnection, Connection
from services.domain.restores import Window

_LIVE = (
    "SELECT d.id FROM databases d JOIN projects p ON p.id = d.project_id"
    " WHERE p.namespace = %s AND d.name = %s AND d.state <> 'deleted'"
)


_GET = "SELECT earliest, latest FROM restorable_windows WHERE database_id = %s"


def get(conn: Connection, database_id: uuid.UUID) -> Window | None:
    row = conn.execute(_GET, (database_id,)).fetchone()
    return None if row is None else Window(row["earliest"], row["latest"])


async def get_async(conn: AsyncConnection, database_id: uuid.UUID) -> Window | None:
    """`get` on an asyncio connection (GET /v1/databases/{id})."""
    cursor = await conn.execute(_GET, (database_id,))
    row = await cursor.fetchone()
    return None if row is None else Window(row["earliest"], row["latest"])


def record(conn: Connection, *, namespace: str, database: str, window: Window | None) -> int:
    """Set (None: drop) the window of the live database `database` in `namespace` (the
    archive's Snapshots name the database, not its id); the rows it changed."""
    if window is None:
        result = conn.execute(
            "DELETE FROM restorable_windows WHERE database_id IN (" + _LIVE + ")",
            (namespace, database),
        )
        return result.rowcount
    result = conn.execute(
        "INSERT INTO restorable_windows (database_id, earliest, latest)"
        " SELECT id, %s, %s FROM (" + _LIVE + ") live"
        " ON CONFLICT (database_id) DO UPDATE SET earliest = excluded.earliest,"
        " latest = excluded.latest, updated_at = now()"
        " WHERE (restorable_windows.earliest, restorable_windows.latest)"
        " IS DISTINCT FROM (excluded.earliest, excluded.latest)",
        (window.earliest, window.latest, namespace, database),
    )
    return result.rowcount

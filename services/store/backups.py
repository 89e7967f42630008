"""Backup rows: one per backup, scheduled or manual, newest first.

Who writes what: the API inserts a manual backup (`insert_manual`) in the transaction that
records its `backup` operation, already naming the BackupSession the worker will create
(deterministic from the operation id), so status-sync's `observe` of that BackupSession
updates the same row; a scheduled backup's row is created by the first `observe` of its
BackupSession. `observe` is an upsert on (database, BackupSession): replaying it (a
resync, a restarted status-sync) never makes a second row, a known snapshot/size/time is
never erased by a later partial observation, and a finished backup never goes back to
pending or running. Retention removing a Snapshot marks the row (`mark_snapshots_deleted`;
after a full list, `mark_missing_snapshots_deleted`); listings leave such rows out. Never
read-modify-write a whole row.
"""

from __future__ import annotations

import datetime as dt
import uuid

from services.clients.postgres import Connection
from services.domain.backups import BackupOrigin, BackupRecord, BackupState

DEFAULT_PAGE = 50
MAX_PAGE = 500

_TERMINAL = tuple(state.value for state in BackupState if state.is_terminal)


def insert_manual(
    conn: Connection,
    *,
    backup_id: uuid.UUID,
    project_id: str,
    database_id: uuid.UUID,
    operation_id: uuid.UUID,
    backup_session: str,
) -> BackupRecord:
    """The pending row of an on-demand backup (with its `backup` operation's id)."""
    row = conn.execute(
        "INSERT INTO backups (id, project_id, database_id, operation_id, origin, state,"
        " backup_session) VALUES (%s, %s, %s, %s, 'manual', 'pending', %s) RETURNING *",
        (backup_id, project_id, database_id, operation_id, backup_session),
    ).fetchone()
    assert row is not None
    return BackupRecord.from_row(row)


def observe(
    conn: Connection,
    *,
    project_id: str,
    database_id: uuid.UUID,
    backup_session: str,
    state: BackupState,
    snapshot: str | None = None,
    size_bytes: int | None = None,
    error: str | None = None,
    started_at: dt.datetime | None = None,
    completed_at: dt.datetime | None = None,
    new_id: uuid.UUID | None = None,
) -> tuple[BackupRecord, bool]:
    """Record what the cluster shows of one BackupSession; (the row, whether it was new).

    A row not seen before is a scheduled backup (`new_id`, or a fresh id). A finished row
    keeps its terminal state unless the new state is terminal too (a Snapshot that
    succeeded may turn a failed BackupSession's backup into a success, KUBESTASH-API.md §4).
    """
    if size_bytes is not None and size_bytes < 0:
        raise ValueError("size_bytes must not be negative")
    row = conn.execute(
        "INSERT INTO backups AS b (id, project_id, database_id, origin, state, backup_session,"
        " snapshot, size_bytes, error, started_at, completed_at)"
        " VALUES (%(id)s, %(project)s, %(database)s, 'schedule', %(state)s, %(session)s,"
        " %(snapshot)s, %(size)s, %(error)s, %(started)s, %(completed)s)"
        " ON CONFLICT (database_id, backup_session) WHERE backup_session IS NOT NULL DO UPDATE SET"
        " state = CASE WHEN b.state = ANY(%(terminal)s) AND NOT %(state)s = ANY(%(terminal)s)"
        "   THEN b.state ELSE EXCLUDED.state END,"
        " snapshot = COALESCE(EXCLUDED.snapshot, b.snapshot),"
        " size_bytes = COALESCE(EXCLUDED.size_bytes, b.size_bytes),"
        " error = CASE WHEN EXCLUDED.state = 'succeeded' THEN NULL"
        "   ELSE COALESCE(EXCLUDED.error, b.error) END,"
        " started_at = COALESCE(b.started_at, EXCLUDED.started_at),"
        " completed_at = COALESCE(EXCLUDED.completed_at, b.completed_at),"
        " updated_at = now()"
        " RETURNING *, (xmax = 0) AS inserted",
        {
            "id": new_id or uuid.uuid4(),
            "project": project_id,
            "database": database_id,
            "state": state.value,
            "session": backup_session,
            "snapshot": snapshot,
            "size": size_bytes,
            "error": error,
            "started": started_at,
            "completed": completed_at if state.is_terminal else None,
            "terminal": list(_TERMINAL),
        },
    ).fetchone()
    assert row is not None
    return BackupRecord.from_row(row), bool(row["inserted"])


def owners(conn: Connection, database_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The project of each of these databases that has a row (deleted ones included): a
    cluster label naming another id (another control plane's objects) has no owner here."""
    if not database_ids:
        return {}
    rows = conn.execute(
        "SELECT id, project_id FROM databases WHERE id = ANY(%s)", (list(database_ids),)
    ).fetchall()
    return {row["id"]: row["project_id"] for row in rows}


def get(conn: Connection, project_id: str, backup_id: uuid.UUID) -> BackupRecord | None:
    row = conn.execute(
        "SELECT * FROM backups WHERE id = %s AND project_id = %s", (backup_id, project_id)
    ).fetchone()
    return None if row is None else BackupRecord.from_row(row)


def by_operations(
    conn: Connection, operation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, BackupRecord]:
    """The manual backups of these `backup` operations, by operation id."""
    if not operation_ids:
        return {}
    rows = conn.execute(
        "SELECT * FROM backups WHERE operation_id = ANY(%s)", (operation_ids,)
    ).fetchall()
    return {row["operation_id"]: BackupRecord.from_row(row) for row in rows}


def page(
    conn: Connection,
    project_id: str,
    *,
    database_id: uuid.UUID | None = None,
    state: BackupState | None = None,
    origin: BackupOrigin | None = None,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = DEFAULT_PAGE,
) -> list[BackupRecord]:
    """A project's backups whose snapshot still exists (or is still to come), newest
    first; `before` is the last row's `cursor` of the previous page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    after_created, after_id = before if before is not None else (None, None)
    rows = conn.execute(
        "SELECT * FROM backups WHERE project_id = %(project)s AND snapshot_deleted_at IS NULL"
        " AND (%(database)s::uuid IS NULL OR database_id = %(database)s)"
        " AND (%(state)s::text IS NULL OR state = %(state)s)"
        " AND (%(origin)s::text IS NULL OR origin = %(origin)s)"
        " AND (%(created)s::timestamptz IS NULL OR (created_at, id) < (%(created)s, %(id)s))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {
            "project": project_id,
            "database": database_id,
            "state": state.value if state else None,
            "origin": origin.value if origin else None,
            "created": after_created,
            "id": after_id,
            "limit": limit,
        },
    ).fetchall()
    return [BackupRecord.from_row(row) for row in rows]


def open_for_database(conn: Connection, database_id: uuid.UUID) -> list[BackupRecord]:
    """The database's backups not finished yet, oldest first."""
    rows = conn.execute(
        "SELECT * FROM backups WHERE database_id = %s AND state IN ('pending', 'running')"
        " ORDER BY created_at, id",
        (database_id,),
    ).fetchall()
    return [BackupRecord.from_row(row) for row in rows]


def mark_snapshots_deleted(conn: Connection, snapshots: list[str]) -> int:
    """These Snapshots are gone (retention, a person): their rows leave the listings and
    can no longer be restored from; how many rows changed."""
    if not snapshots:
        return 0
    result = conn.execute(
        "UPDATE backups SET snapshot_deleted_at = now(), updated_at = now()"
        " WHERE snapshot = ANY(%s) AND snapshot_deleted_at IS NULL",
        (snapshots,),
    )
    return result.rowcount


def mark_missing_snapshots_deleted(conn: Connection, existing: frozenset[str]) -> int:
    """After a full list of the Snapshots (`existing`): a finished backup whose Snapshot is
    not among them lost it while no status-sync watched; how many rows changed. A succeeded
    row's Snapshot was in the view when it was recorded, so a missing one is gone, not late.
    """
    result = conn.execute(
        "UPDATE backups AS b SET snapshot_deleted_at = now(), updated_at = now()"
        " FROM (SELECT b2.id FROM backups b2"
        "   LEFT JOIN unnest(%s::text[]) AS held(name) ON held.name = b2.snapshot"
        "   WHERE b2.snapshot IS NOT NULL AND b2.snapshot_deleted_at IS NULL"
        "   AND b2.state = ANY(%s) AND held.name IS NULL) AS gone"
        " WHERE b.id = gone.id",
        (sorted(existing), list(_TERMINAL)),
    )
    return result.rowcount


def stamp_expiry_of_deleted(conn: Connection, *, retention_seconds: float) -> int:
    """Give every kept backup of a deleted database its expiry (the deletion plus the
    retention), once; how many rows were stamped."""
    result = conn.execute(
        "UPDATE backups AS b SET expires_at = d.deleted_at + make_interval(secs => %s),"
        " updated_at = now() FROM databases d"
        " WHERE d.id = b.database_id AND d.state = 'deleted' AND d.deleted_at IS NOT NULL"
        " AND b.expires_at IS NULL AND b.snapshot IS NOT NULL AND b.snapshot_deleted_at IS NULL",
        (retention_seconds,),
    )
    return result.rowcount


def expired_snapshots(conn: Connection, *, limit: int = 100) -> list[tuple[str, str]]:
    """(namespace, Snapshot) of the backups whose expiry has passed, oldest first."""
    rows = conn.execute(
        "SELECT p.namespace, b.snapshot FROM backups b JOIN projects p ON p.id = b.project_id"
        " WHERE b.expires_at < now() AND b.snapshot_deleted_at IS NULL"
        " ORDER BY b.expires_at LIMIT %s",
        (limit,),
    ).fetchall()
    return [(row["namespace"], row["snapshot"]) for row in rows]


def abandon(conn: Connection, operation_ids: list[uuid.UUID], reason: str) -> int:
    """The manual backups of these operations will never run (the operation failed or was
    cancelled before KubeStash finished it): failed with `reason`; the rows it changed."""
    if not operation_ids:
        return 0
    result = conn.execute(
        "UPDATE backups SET state = 'failed', error = %s, completed_at = now(),"
        " updated_at = now() WHERE operation_id = ANY(%s) AND state IN ('pending', 'running')",
        (reason, operation_ids),
    )
    return result.rowcount

"""The reconcilers' side of the store: observed status writes and the bulk reads they need.

status-sync writes only the observed columns of `databases` (phase, observed spec, observed
generation, endpoint, conditions, message, sync time) and the derived lifecycle `state`,
with one UPDATE per batch whose row for a database matches nothing when nothing changed;
so a duplicate event, a re-list or a resync of ten thousand unchanged databases writes
nothing.
It never touches the desired columns, `generation` or `drift_policy`.

The reads return whole snapshots in one query each (databases with their namespace, open
operation types and last create state), never one query per database. A drift pass reads
every live database, so its snapshots (`DesiredSnapshot`) hold only the columns drift
compares: a row's observed status (conditions, observed spec) is most of its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from services.clients.postgres import Connection
from services.domain.records import OperationRecord
from services.domain.snapshots import (
    DESIRED_COLUMNS,
    DatabaseSnapshot,
    DesiredSnapshot,
    ObservedStatus,
)

_SNAPSHOT = (
    "SELECT d.*, p.namespace,"
    " (SELECT o.state FROM operations o WHERE o.database_id = d.id"
    "   AND o.type IN ('create', 'restore') ORDER BY o.seq DESC LIMIT 1) AS last_create,"
    " ARRAY(SELECT o.type FROM operations o WHERE o.database_id = d.id"
    "   AND o.state IN ('pending', 'running', 'waiting') ORDER BY o.seq) AS open_operations"
    " FROM databases d JOIN projects p ON p.id = d.project_id"
)


def lock_snapshots(conn: Connection, ids: Collection[uuid.UUID]) -> list[DatabaseSnapshot]:
    """Snapshots of these databases, rows locked until the transaction ends (id order).

    The lock makes the derived state safe: an API change of the same database (which locks
    the row too) either committed before the read or waits for the write.
    """
    rows = conn.execute(
        _SNAPSHOT + " WHERE d.id = ANY(%s) ORDER BY d.id FOR NO KEY UPDATE OF d", (list(ids),)
    ).fetchall()
    return [DatabaseSnapshot.from_row(row) for row in rows]


def live_databases(conn: Connection) -> list[DesiredSnapshot]:
    """Every database not deleted, with its namespace: the desired side of a drift pass.

    One query; the per-database facts come from two aggregates joined in (hash joins),
    which is faster than `_SNAPSHOT`'s correlated subqueries (bench/README.md). Only
    the columns drift decides on, each row made a snapshot as it is read.
    """
    cursor = conn.execute(
        "WITH open_ops AS ("
        "  SELECT database_id, array_agg(type ORDER BY seq) AS types FROM operations"
        "  WHERE state IN ('pending', 'running', 'waiting') GROUP BY database_id),"
        " creates AS ("
        "  SELECT DISTINCT ON (database_id) database_id, state FROM operations"
        "  WHERE type IN ('create', 'restore') ORDER BY database_id, seq DESC)"
        " SELECT " + ", ".join(f"d.{column}" for column in DESIRED_COLUMNS) + ","
        " p.namespace, c.state AS last_create, coalesce(o.types, '{}') AS open_operations"
        " FROM databases d JOIN projects p ON p.id = d.project_id"
        " LEFT JOIN creates c ON c.database_id = d.id"
        " LEFT JOIN open_ops o ON o.database_id = d.id"
        " WHERE d.state <> 'deleted' ORDER BY d.id"
    )
    return [DesiredSnapshot.from_row(row) for row in cursor]


def live_databases_by_id(conn: Connection, ids: Collection[uuid.UUID]) -> list[DesiredSnapshot]:
    """`live_databases`, for these databases only: what drift judges when the watch stream
    shows some CRs changed. Correlated subqueries here: for a few rows by primary key they
    read only those databases' operations, where the aggregates would read every one."""
    if not ids:
        return []
    cursor = conn.execute(
        "SELECT " + ", ".join(f"d.{column}" for column in DESIRED_COLUMNS) + ","
        " p.namespace,"
        " (SELECT o.state FROM operations o WHERE o.database_id = d.id AND o.type = 'create'"
        "  ORDER BY o.seq DESC LIMIT 1) AS last_create,"
        " coalesce((SELECT array_agg(o.type ORDER BY o.seq) FROM operations o"
        "  WHERE o.database_id = d.id AND o.state IN ('pending', 'running', 'waiting')), '{}')"
        "  AS open_operations"
        " FROM databases d JOIN projects p ON p.id = d.project_id"
        " WHERE d.id = ANY(%s) AND d.state <> 'deleted' ORDER BY d.id",
        (list(ids),),
    )
    return [DesiredSnapshot.from_row(row) for row in cursor]


_WRITE_STATUSES = (
    "UPDATE databases d SET phase = v.phase, observed_spec = v.spec,"
    " observed_generation = v.og, endpoint = v.endpoint, conditions = v.conditions,"
    " status_message = v.message, state = v.state, synced_at = now()"
    " FROM unnest(%b::uuid[], %b::text[], %b::jsonb[], %b::bigint[], %b::text[],"
    "             %b::jsonb[], %b::text[], %b::text[])"
    "      AS v(id, phase, spec, og, endpoint, conditions, message, state)"
    " WHERE d.id = v.id AND d.state <> 'deleted'"
    " AND (d.phase, d.observed_spec, d.observed_generation, d.endpoint, d.conditions,"
    "      d.status_message, d.state)"
    " IS DISTINCT FROM (v.phase, v.spec, v.og, v.endpoint, v.conditions, v.message, v.state)"
    " RETURNING d.id"
)


def write_status(conn: Connection, database_id: uuid.UUID, status: ObservedStatus) -> bool:
    """Write the observed columns and state if any differs; True when a row changed."""
    return write_statuses(conn, [(database_id, status)]) == 1


def write_statuses(conn: Connection, statuses: Sequence[tuple[uuid.UUID, ObservedStatus]]) -> int:
    """`write_status` for many databases in one statement (the values as arrays, one per
    column, sent in binary: psycopg's text form escapes every element of a jsonb array,
    which cost five times the statement itself); how many rows changed. Each database at
    most once."""
    if not statuses:
        return 0
    columns: list[list[Any]] = [[] for _ in range(8)]
    for database_id, status in statuses:
        spec = status.observed_spec
        row = (
            database_id,
            status.phase,
            Jsonb(spec) if spec is not None else None,
            status.observed_generation,
            status.endpoint,
            Jsonb(status.conditions),
            status.status_message,
            status.state,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return len(conn.execute(_WRITE_STATUSES, columns).fetchall())


def waiting_operations(
    conn: Connection,
    *,
    database_ids: Collection[uuid.UUID] | None = None,
    operation_ids: Collection[uuid.UUID] = (),
) -> list[OperationRecord]:
    """The operations waiting for KubeDB (at most one per database): every one, or only
    those of `database_ids` and those in `operation_ids`."""
    if database_ids is None:
        rows = conn.execute(
            "SELECT * FROM operations WHERE state = 'waiting' ORDER BY seq"
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM operations WHERE state = 'waiting'"
            " AND (database_id = ANY(%s) OR id = ANY(%s)) ORDER BY seq",
            (list(database_ids), list(operation_ids)),
        ).fetchall()
    return [OperationRecord.from_row(row) for row in rows]


def recorded_long_ago(
    conn: Connection, operation_ids: Collection[uuid.UUID], *, older_than_seconds: float
) -> set[uuid.UUID]:
    """Those operations whose result PostgreSQL has held for longer than `older_than_seconds`."""
    if not operation_ids:
        return set()
    rows = conn.execute(
        "SELECT id FROM operations WHERE id = ANY(%s)"
        " AND state IN ('succeeded', 'failed', 'cancelled')"
        " AND finished_at < now() - make_interval(secs => %s)",
        (list(operation_ids), older_than_seconds),
    ).fetchall()
    return {row["id"] for row in rows}


def reported_fingerprints(conn: Connection, fingerprints: Collection[str]) -> set[str]:
    """Those drift fingerprints an event already reports (`details.fingerprint`)."""
    if not fingerprints:
        return set()
    rows = conn.execute(
        "SELECT DISTINCT details->>'fingerprint' AS fingerprint FROM events"
        " WHERE kind IN ('drift.detected', 'drift.orphan')"
        " AND details->>'fingerprint' = ANY(%s)",
        (list(fingerprints),),
    ).fetchall()
    return {row["fingerprint"] for row in rows}


def live_ids(conn: Connection, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those database ids that have a row not deleted."""
    if not ids:
        return set()
    rows = conn.execute(
        "SELECT id FROM databases WHERE id = ANY(%s) AND state <> 'deleted'", (list(ids),)
    ).fetchall()
    return {row["id"] for row in rows}


def project_exists(conn: Connection, project_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM projects WHERE id = %s", (project_id,)).fetchone()
    return row is not None


def behind_with_nothing_open(conn: Connection, *, limit: int) -> list[uuid.UUID]:
    """Live databases observed once whose observed generation lags their generation while
    no operation of theirs is open: a change that was cancelled or failed and rolled back
    raised the generation without anything in the cluster changing, so no event would ever
    make status-sync look at them again."""
    rows = conn.execute(
        "SELECT d.id FROM databases d"
        " WHERE d.observed_generation < d.generation AND d.state <> 'deleted'"
        " AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.database_id = d.id"
        " AND o.state IN ('pending', 'running', 'waiting'))"
        " LIMIT %s",
        (limit,),
    ).fetchall()
    return [row["id"] for row in rows]

"""Operations, the outbox: every change to a database, in order, claimed by one worker.

Every transition is a conditional UPDATE that names the state it leaves, so a duplicate or
stale job, a second worker or a late reconciler changes nothing: the UPDATE matches no row.
Only the head of a database's queue can be claimed, which keeps operations in order.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from psycopg.types.json import Jsonb

from services.clients.postgres import Connection
from services.domain.planning import OperationType
from services.domain.records import DatabaseRecord, OperationRecord, OperationState

# Shared by `claim` and `claim_started`: one text, one set of guarantees.
#
# Written so that its plan does not depend on fresh statistics. The row is found by its
# primary key: the state test is a CASE, which the planner cannot match to the predicates of
# the partial indexes (`operations_open`, `operations_one_active`). Written as a plain
# `state = 'pending' OR ...`, it lets the planner pick `operations_open` for the row when the
# last ANALYZE saw no open operation (e.g. a burst of operations right after a bulk load),
# and filter that whole index for the id: O(open operations) per claim (bench/README.md
# has the figure). The queue checks are subplans (OFFSET 0 keeps them from being turned
# into joins), so each probes `operations_open` / `operations_one_active` by the database id,
# never a scan of the whole index.
_CLAIM = (
    "UPDATE operations o SET state = 'running', attempt = o.attempt + 1,"
    " lease_owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(lease)s),"
    " started_at = coalesce(o.started_at, now()), updated_at = now()"
    " WHERE o.id = %(id)s"
    " AND CASE o.state WHEN 'pending' THEN true"
    "   WHEN 'running' THEN o.lease_expires_at < now() ELSE false END"
    " AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.database_id = o.database_id"
    "   AND p.seq < o.seq AND p.state IN ('pending', 'running', 'waiting') OFFSET 0)"
    " AND NOT EXISTS (SELECT 1 FROM operations w WHERE w.database_id = o.database_id"
    "   AND w.id <> o.id AND w.state IN ('running', 'waiting') OFFSET 0)"
)
# `state = 'running'` for an UPDATE of one operation by id, as a CASE for the reason `_CLAIM`
# gives (found by primary key whatever the statistics say); `finish` does the same.
_RUNNING = "CASE state WHEN 'running' THEN true ELSE false END"
# Shared by `mark_waiting` and `mark_waiting_recorded`.
_MARK_WAITING = (
    "UPDATE operations SET state = 'waiting', k8s_kind = %(kind)s, k8s_name = %(name)s,"
    " lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
    " WHERE id = %(id)s AND " + _RUNNING + " AND lease_owner = %(owner)s"
)
# The databases columns of a joined row, each named "database.<column>".
_DATABASE_PREFIX = "database."
_DATABASE_COLUMNS = ", ".join(
    f'd.{field.name} AS "{_DATABASE_PREFIX}{field.name}"'
    for field in dataclasses.fields(DatabaseRecord)
)


def insert(
    conn: Connection,
    *,
    database_id: uuid.UUID,
    project_id: str,
    type: OperationType,
    generation: int,
    params: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    origin: str = "api",
    requested_by: str | None = None,
) -> OperationRecord:
    row = conn.execute(
        "INSERT INTO operations (id, database_id, project_id, type, generation, params, previous,"
        " origin, requested_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (
            uuid.uuid4(),
            database_id,
            project_id,
            type,
            generation,
            Jsonb(params or {}),
            Jsonb(previous or {}),
            origin,
            requested_by,
        ),
    ).fetchone()
    assert row is not None
    return OperationRecord.from_row(row)


def get(
    conn: Connection, operation_id: uuid.UUID, *, project_id: str | None = None
) -> OperationRecord | None:
    row = conn.execute(
        "SELECT * FROM operations WHERE id = %(id)s"
        " AND (%(project)s::text IS NULL OR project_id = %(project)s)",
        {"id": operation_id, "project": project_id},
    ).fetchone()
    return None if row is None else OperationRecord.from_row(row)


def claim(
    conn: Connection, operation_id: uuid.UUID, *, owner: str, lease_seconds: float
) -> OperationRecord | None:
    """Take a pending operation (or one whose lease expired) if it heads its database's queue."""
    row = conn.execute(
        _CLAIM + " RETURNING o.*", {"id": operation_id, "owner": owner, "lease": lease_seconds}
    ).fetchone()
    return None if row is None else OperationRecord.from_row(row)


def claim_started(
    conn: Connection, operation_id: uuid.UUID, *, owner: str, lease_seconds: float, actor: str
) -> tuple[OperationRecord, DatabaseRecord] | None:
    """`claim`, plus the operation's database row and an `operation.started` event by `actor`,
    in ONE statement: one round trip, and one transaction on an autocommit connection.

    The UPDATE is `claim`'s own (same conditions), so the same guarantees hold: no row, no
    event, nothing changed. The event reads "<type> of <name> started (attempt <n>)" with
    details {owner, attempt}.
    """
    row = conn.execute(
        "WITH claimed AS (" + _CLAIM + " RETURNING o.*),"
        " started AS (INSERT INTO events"
        "  (project_id, database_id, operation_id, actor, kind, message, details)"
        "  SELECT c.project_id, c.database_id, c.id, %(actor)s, 'operation.started',"
        "   format('%%s of %%s started (attempt %%s)', c.type, d.name, c.attempt),"
        "   jsonb_build_object('owner', %(owner)s::text, 'attempt', c.attempt)"
        "  FROM claimed c JOIN databases d ON d.id = c.database_id)"
        " SELECT c.*, " + _DATABASE_COLUMNS + " FROM claimed c"
        " JOIN databases d ON d.id = c.database_id",
        {"id": operation_id, "owner": owner, "lease": lease_seconds, "actor": actor},
    ).fetchone()
    if row is None:
        return None
    database = {
        name[len(_DATABASE_PREFIX) :]: value
        for name, value in row.items()
        if name.startswith(_DATABASE_PREFIX)
    }
    return OperationRecord.from_row(row), DatabaseRecord.from_row(database)


def extend_lease(
    conn: Connection, operation_id: uuid.UUID, *, owner: str, lease_seconds: float
) -> bool:
    row = conn.execute(
        "UPDATE operations SET lease_expires_at = now() + make_interval(secs => %s)"
        " WHERE id = %s AND " + _RUNNING + " AND lease_owner = %s RETURNING id",
        (lease_seconds, operation_id, owner),
    ).fetchone()
    return row is not None


def mark_waiting(
    conn: Connection, operation_id: uuid.UUID, *, owner: str, k8s_kind: str, k8s_name: str
) -> bool:
    """running → waiting: the Kubernetes side is applied; KubeDB does the rest."""
    row = conn.execute(
        _MARK_WAITING + " RETURNING id",
        {"kind": k8s_kind, "name": k8s_name, "id": operation_id, "owner": owner},
    ).fetchone()
    return row is not None


def mark_waiting_recorded(
    conn: Connection,
    operation_id: uuid.UUID,
    *,
    owner: str,
    k8s_kind: str,
    k8s_name: str,
    actor: str,
    kind: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """`mark_waiting` plus its event, in ONE statement; no event when the UPDATE matched nothing."""
    row = conn.execute(
        "WITH waiting AS (" + _MARK_WAITING + " RETURNING id, project_id, database_id)"
        " INSERT INTO events (project_id, database_id, operation_id, actor, kind, message, details)"
        " SELECT w.project_id, w.database_id, w.id, %(actor)s, %(event)s, %(message)s, %(details)s"
        " FROM waiting w RETURNING operation_id",
        {
            "kind": k8s_kind,
            "name": k8s_name,
            "id": operation_id,
            "owner": owner,
            "actor": actor,
            "event": kind,
            "message": message,
            "details": Jsonb(details or {}),
        },
    ).fetchone()
    return row is not None


def release(conn: Connection, operation_id: uuid.UUID, *, owner: str) -> bool:
    """running → pending, keeping the attempt count: retried later by a new job."""
    row = conn.execute(
        "UPDATE operations SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
        " updated_at = now() WHERE id = %s AND " + _RUNNING + " AND lease_owner = %s"
        " RETURNING id",
        (operation_id, owner),
    ).fetchone()
    return row is not None


def finish(
    conn: Connection,
    operation_id: uuid.UUID,
    *,
    state: OperationState,
    from_states: tuple[OperationState, ...],
    error: dict[str, Any] | None = None,
    owner: str | None = None,
) -> OperationRecord | None:
    """Move to a terminal state from one of `from_states`; None when it was not in them."""
    row = conn.execute(
        "UPDATE operations SET state = %(state)s, error = %(error)s, finished_at = now(),"
        " lease_owner = NULL, lease_expires_at = NULL, updated_at = now()"
        " WHERE id = %(id)s AND CASE WHEN state = ANY(%(from)s) THEN true ELSE false END"
        " AND (%(owner)s::text IS NULL OR lease_owner = %(owner)s) RETURNING *",
        {
            "state": state,
            "error": Jsonb(error) if error is not None else None,
            "id": operation_id,
            "from": list(from_states),
            "owner": owner,
        },
    ).fetchone()
    return None if row is None else OperationRecord.from_row(row)


def open_for_database(conn: Connection, database_id: uuid.UUID) -> list[OperationRecord]:
    rows = conn.execute(
        "SELECT * FROM operations WHERE database_id = %s"
        " AND state IN ('pending', 'running', 'waiting') ORDER BY seq",
        (database_id,),
    ).fetchall()
    return [OperationRecord.from_row(row) for row in rows]


def set_previous(conn: Connection, operation_id: uuid.UUID, previous: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE operations SET previous = %s, updated_at = now() WHERE id = %s",
        (Jsonb(previous), operation_id),
    )


def mark_enqueued(conn: Connection, operation_ids: list[uuid.UUID]) -> None:
    # Several rows in one statement: locked in seq order (databases.LOCK_ORDER), never in
    # whatever order the UPDATE would meet them.
    conn.execute(
        "UPDATE operations SET enqueued_at = now() WHERE id IN (SELECT id FROM operations"
        " WHERE id = ANY(%s) ORDER BY seq FOR NO KEY UPDATE)",
        (operation_ids,),
    )


def dispatchable(
    conn: Connection, *, pending_older_than: float, limit: int = 500
) -> list[uuid.UUID]:
    """Ids to enqueue again: heads of queues pending too long, or running with an expired lease."""
    rows = conn.execute(
        "SELECT o.id FROM operations o"
        " WHERE ((o.state = 'pending'"
        "   AND coalesce(o.enqueued_at, o.created_at) < now() - make_interval(secs => %s))"
        "  OR (o.state = 'running' AND o.lease_expires_at < now()))"
        " AND NOT EXISTS (SELECT 1 FROM operations p WHERE p.database_id = o.database_id"
        "   AND p.seq < o.seq AND p.state IN ('pending', 'running', 'waiting'))"
        " ORDER BY o.seq LIMIT %s",
        (pending_older_than, limit),
    ).fetchall()
    return [row["id"] for row in rows]


def list_page(
    conn: Connection,
    project_id: str,
    *,
    limit: int,
    after_seq: int | None,
    database_id: uuid.UUID | None = None,
    state: str | None = None,
) -> list[OperationRecord]:
    rows = conn.execute(
        "SELECT * FROM operations WHERE project_id = %(project)s"
        " AND (%(db)s::uuid IS NULL OR database_id = %(db)s)"
        " AND (%(state)s::text IS NULL OR state = %(state)s)"
        " AND seq > %(after)s ORDER BY seq LIMIT %(limit)s",
        {
            "project": project_id,
            "db": database_id,
            "state": state,
            "after": after_seq or 0,
            "limit": limit,
        },
    ).fetchall()
    return [OperationRecord.from_row(row) for row in rows]


def head_pending(conn: Connection, database_id: uuid.UUID) -> OperationRecord | None:
    """The next operation to start for a database, if none is running or waiting."""
    row = conn.execute(
        "SELECT * FROM operations o WHERE o.database_id = %s AND o.state = 'pending'"
        " AND NOT EXISTS (SELECT 1 FROM operations a WHERE a.database_id = o.database_id"
        "   AND a.state IN ('running', 'waiting'))"
        " ORDER BY o.seq LIMIT 1",
        (database_id,),
    ).fetchone()
    return None if row is None else OperationRecord.from_row(row)

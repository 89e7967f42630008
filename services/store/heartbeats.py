"""Workers' heartbeats in PostgreSQL, and the hand-over of a silent worker's operations.

A worker beats about once a second (its heartbeat thread); a worker killed or frozen stops.
The operations it had claimed keep their lease (DBAAS_OPERATION_LEASE_SECONDS, a minute by
default) and would wait that long; `expire_leases_of_silent_workers` ends those leases as
soon as the owner has been silent for the heartbeat timeout, so status-sync's sweep enqueues
them again at once and another worker resumes them (same deterministic object names: still
one OpsRequest). Only owners that ever beat are judged: a worker with no row (an in-process
test worker) keeps the plain lease rule.
"""

from __future__ import annotations

import uuid

from services.clients.postgres import Connection


def beat(conn: Connection, name: str) -> None:
    conn.execute(
        "INSERT INTO worker_heartbeats (name, beat_at) VALUES (%s, now())"
        " ON CONFLICT (name) DO UPDATE SET beat_at = now()",
        (name,),
    )


def forget(conn: Connection, name: str) -> None:
    """A worker that stops cleanly leaves no heartbeat behind."""
    conn.execute("DELETE FROM worker_heartbeats WHERE name = %s", (name,))


def expire_leases_of_silent_workers(conn: Connection, *, silent_for: float) -> list[uuid.UUID]:
    """End the leases of running operations whose owner has not beaten for `silent_for`
    seconds; return their ids (the caller enqueues them again). A lease owner is
    `<worker name>/<token of the claim>` (worker.jobs): the name is what beats."""
    rows = conn.execute(
        "UPDATE operations o SET lease_expires_at = now() - interval '1 millisecond'"
        " FROM worker_heartbeats h"
        " WHERE o.state = 'running' AND o.lease_expires_at >= now()"
        " AND h.name = regexp_replace(o.lease_owner, '/[^/]*$', '')"
        " AND h.beat_at < now() - make_interval(secs => %s)"
        " RETURNING o.id",
        (silent_for,),
    ).fetchall()
    return [row["id"] for row in rows]


def prune_silent(conn: Connection, *, silent_for: float) -> int:
    """Forget the workers silent for `silent_for` seconds (killed ones leave their row: each
    process has a name of its own); how many. Their leases ended long before: a silent
    worker renews none."""
    result = conn.execute(
        "DELETE FROM worker_heartbeats WHERE beat_at < now() - make_interval(secs => %s)",
        (silent_for,),
    )
    return result.rowcount

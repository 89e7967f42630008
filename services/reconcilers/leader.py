"""Leader election: exactly one active instance of each reconciler per deployment.

Choice: a PostgreSQL session-level advisory lock held on a dedicated connection, rather than
a Kubernetes Lease (coordination.k8s.io/v1). Why:
- PostgreSQL is already the source of truth that every reconciler write goes to; electing
  on it adds no dependency, and needs no RBAC on Leases in each cluster.
- The lock dies with the connection: when the leader process crashes or is killed, the
  server drops its session and the lock at once (TCP keepalives set below bound the case
  of a vanished host), so a standby takes over on its next try, within seconds. A Lease
  can only be taken over after its duration expires, and needs clock-based renewals.
- Neither fences. A leader that stalls (GC pause, partition) may still finish one write
  after losing the lock, so every reconciler write stays conditional (operations move only
  from the state they expect; status UPDATEs are idempotent), and a late write is harmless.

Mechanics: `pg_try_advisory_lock(id)` once; then every cycle `check()` verifies that the
connection is alive and still holds the lock, through `pg_locks` for our own backend. Any
failure means "not leader" and drops the connection; the next `check()` reconnects and
tries again. Lock ids are distinct per program (`LOCK_IDS`). This module never does the
reconcilers' work; it only answers "am I the leader now?".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.clients.postgres import Connection

log = logging.getLogger(__name__)

LOCK_IDS: dict[str, int] = {
    # Arbitrary, fixed, below 2**31 so pg_locks shows them as classid 0 / objid <id>.
    "status-sync": 0x0DBA_5001,
    "drift": 0x0DBA_5002,
}

# Server-side keepalives on the lock session: the server notices a vanished leader host in
# about 5 + 2 * 3 = 11 s and releases the lock (a killed process is noticed at once).
_SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


class AdvisoryLockElector:
    """Leadership of `program` as a session advisory lock on its own autocommit connection."""

    def __init__(self, connect: Callable[[], Connection], *, program: str) -> None:
        self.connect = connect
        self.program = program
        self.lock_id = LOCK_IDS[program]
        self._conn: Connection | None = None
        self._held = False
        self.why_not: str | None = None
        """Why the last `check()` did not win, when it is not simply another leader."""

    @property
    def is_leader(self) -> bool:
        """The answer of the last `check()`."""
        return self._held

    def check(self) -> bool:
        """Leader now? Acquires the lock when free; verifies it when held. Never raises."""
        self.why_not = None
        try:
            conn = self._connection()
            if self._held:
                self._held = self._still_held(conn)
                if not self._held:
                    log.warning("leader %s: lock lost", self.program)
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(%s) AS won", (self.lock_id,))
                result = row.fetchone()
                self._held = bool(result and result["won"])
                if self._held:
                    log.info(
                        "leader %s: acquired (backend %s)", self.program, conn.info.backend_pid
                    )
        except Exception as error:  # any failure of the lock session means we do not lead
            if self._held:
                log.warning("leader %s: lost with the connection: %s", self.program, error)
            else:
                log.debug("leader %s: cannot check: %s", self.program, error)
            self.why_not = f"cannot reach PostgreSQL: {type(error).__name__}"
            self._drop()
        return self._held

    def release(self) -> None:
        """Give up leadership (on shutdown) so a standby takes over without waiting."""
        if self._conn is not None and self._held:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
            except Exception as error:
                log.debug("leader %s: unlock failed: %s", self.program, error)
        self._drop()

    @property
    def backend_pid(self) -> int | None:
        """The lock session's server pid (tests terminate it to simulate a dead leader)."""
        return None if self._conn is None or self._conn.closed else self._conn.info.backend_pid

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._held = False
            conn = self.connect()
            conn.autocommit = True  # never idle in a transaction while holding the lock
            for statement in _SESSION_SETTINGS:
                conn.execute(statement)
            conn.execute(
                "SELECT set_config('application_name', %s, false)",
                (f"dbaas-{self.program}-leader",),
            )
            self._conn = conn
        return self._conn

    def _still_held(self, conn: Connection) -> bool:
        row = conn.execute(
            "SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory'"
            " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (self.lock_id,),
        ).fetchone()
        return bool(row and row["held"])

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception as error:
                log.debug("leader %s: close failed: %s", self.program, error)
        self._conn = None


class AlwaysLeader:
    """A stand-in elector for single-instance runs (`--no-election`) and unit tests."""

    is_leader = True

    def check(self) -> bool:
        return True

    def release(self) -> None:
        return None

"""status-sync: the reconciler that closes the loop from the cluster back to PostgreSQL.

Each cycle, as the leader:
1. observe: drain the watch feed (`listwatch`) into the view of the cluster (`cluster_view`);
   read the waiting operations and, per batch, the touched databases (rows locked);
2. decide purely (`rules`): which waiting operations ended and how; what each touched
   database's status columns and lifecycle state should be;
3. apply: complete operations through `control.outcomes` (conditional: a duplicate does
   nothing), write status with targeted UPDATEs only when changed (`store.observed`), then
   after commit enqueue each database's next pending operation;
4. chores: the outbox sweeper (re-enqueue operations pending too long or with an expired
   lease) and the clean-up of finished OpsRequests once their result has been recorded
   for `opsrequest_retention_seconds` (KubeDB never deletes them).

It never writes desired columns, never creates Kubernetes objects, and deletes only
OpsRequests whose operation PostgreSQL has recorded as finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import queue as queue_module
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from services.clients import postgres
from services.clients import queue as queue_client
from services.clients.kube import KubeClient, KubeError
from services.clients.postgres import Connection
from services.control import outcomes
from services.domain.planning import OperationType
from services.domain.records import OperationRecord, OperationState
from services.domain.resources import (
    BACKUP_CONFIGURATION,
    BACKUP_SESSION,
    RESTORE_SESSION,
    SNAPSHOT,
    database_resources,
    ops_request_resources,
)
from services.domain.snapshots import ObservedStatus
from services.reconcilers import cr_readings, memory, metrics
from services.reconcilers.cr_readings import Item, Listed
from services.reconcilers.listwatch import Watchers
from services.reconcilers.status_sync import backup_expiry, backup_view, rules
from services.reconcilers.status_sync.cluster_view import ClusterView
from services.store import backups, heartbeats, observed, operations, windows

Enqueue = Callable[[queue_client.Queue, Sequence[uuid.UUID]], int]

log = logging.getLogger(__name__)

PROGRAM = "status-sync"
ACTOR = "status-sync"
# A killed worker's heartbeat row is deleted after this long (its name is never reused).
SILENT_WORKER_FORGOTTEN_SECONDS = 3600.0
# Databases whose generation a rolled-back change left ahead, re-derived per sweep.
BEHIND_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    pending_redispatch_seconds: float = 30.0
    silent_worker_seconds: float = 10.0
    """A running operation whose worker has not beaten for this long is handed over at the
    next sweep instead of waiting out its lease (`store.heartbeats`)."""
    opsrequest_retention_seconds: float = 300.0
    resync_interval_seconds: float = 300.0
    watch_timeout_seconds: int = 8
    """Server-side timeout of one watch request; also bounds how long shutdown waits."""
    poll_seconds: float = 1.0
    """Longest wait for a watch event in one cycle (the cycle's natural pace)."""
    sync_timeout_seconds: float = 30.0
    """How long a new leader waits for its initial lists before its first cycle (a stop
    request ends the wait at once)."""
    batch_size: int = 200
    """Databases whose rows one status transaction locks."""
    max_batches_per_cycle: int = 10
    """Status batches per cycle; the rest waits for the next cycle, so that completions and
    the leadership check keep their pace while a new leader syncs thousands of rows."""
    operation_timeout_seconds: float = 3600.0
    """How long after it first started a waiting operation may wait for KubeDB before it
    fails as timed out (`rules.decide_completion`)."""
    completion_check_seconds: float = 1.0
    """How often every waiting operation is checked. In between, a cycle checks only those
    whose database CR or OpsRequest changed, so its cost follows the events, not the number
    of operations waiting; the full check catches what no event announces (a grace period
    running out, an operation marked waiting after its CR's last event)."""
    sweep_every_seconds: float = 5.0
    cleanup_every_seconds: float = 10.0
    max_items_per_cycle: int = 20000
    deleted_backup_retention_seconds: float | None = None
    """How long a deleted database's backups are kept before their Snapshots are deleted
    (`backup_expiry`); None: kept."""
    watch_backups: bool = False
    """Watch BackupSessions and Snapshots and record backups (on when the server has a
    BackupStorage: without one no backup objects are made, and a cluster without KubeStash
    would answer the watches 404 forever)."""


@dataclasses.dataclass
class _Tally:
    events: int = 0
    written: int = 0
    succeeded: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    enqueued: int = 0
    swept: int = 0
    cleaned: int = 0

    def line(self) -> str:
        parts = []
        if self.events:
            parts.append(f"{self.events} events")
        if self.written:
            parts.append(f"{self.written} status writes")
        if self.succeeded:
            parts.append(f"{len(self.succeeded)} succeeded ({_few(self.succeeded)})")
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({_few(self.failed)})")
        if self.enqueued:
            parts.append(f"{self.enqueued} next enqueued")
        if self.swept:
            parts.append(f"{self.swept} swept")
        if self.cleaned:
            parts.append(f"{self.cleaned} OpsRequests cleaned up")
        return f"{PROGRAM}: " + (", ".join(parts) if parts else "idle")


class StatusSync:
    name = PROGRAM

    def __init__(
        self,
        *,
        pool: postgres.Pool,
        cluster: KubeClient,
        queue: queue_client.Queue,
        config: SyncConfig,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self.pool = pool
        self.cluster = cluster
        self.queue = queue
        self.config = config
        self.clock = clock
        self.stop = stop if stop is not None else threading.Event()
        self.keepalive: Callable[[], None] = lambda: None
        """Called while on_promoted waits for the initial lists (the daemon beats there)."""
        """Set when the process is asked to stop (the daemon's): ends the initial wait."""
        self.resources = {r.plural: r for r in database_resources() + ops_request_resources()}
        if config.watch_backups:
            watched = (BACKUP_SESSION, SNAPSHOT, RESTORE_SESSION, BACKUP_CONFIGURATION)
            self.resources |= {r.plural: r for r in watched}
        self.watchers: Watchers | None = None
        self._reset()

    def _reset(self) -> None:
        self.mirror = ClusterView(
            [r.plural for r in database_resources()], [r.plural for r in ops_request_resources()]
        )
        self.backup_view = backup_view.BackupView()
        self.dirty: set[uuid.UUID] = set()
        self._touched: set[uuid.UUID] = set()
        """Databases whose CR changed since the last completion check."""
        self._next_full_check = 0.0
        self._successful_since: dict[uuid.UUID, float] = {}
        self._missing_since: dict[uuid.UUID, float] = {}
        self._next_sweep = 0.0
        self._next_cleanup = 0.0

    # -- leadership ----------------------------------------------------------------------

    def on_promoted(self) -> None:
        self._stop_watching()  # promoted again without a demotion: one set of watches only
        self._reset()
        self.watchers = Watchers(
            self.cluster,
            list(self.resources.values()),
            program=PROGRAM,
            resync_seconds=self.config.resync_interval_seconds,
            watch_timeout=self.config.watch_timeout_seconds,
            selectors={
                SNAPSHOT.plural: backup_view.SNAPSHOT_SELECTOR,
                BACKUP_SESSION.plural: backup_view.SESSION_SELECTOR,
            },
        )
        self.watchers.start()
        deadline = self.clock() + self.config.sync_timeout_seconds
        while not self.mirror.synced and not self.stop.is_set() and self.clock() < deadline:
            self._drain(wait=min(0.5, max(0.0, deadline - self.clock())))
            self.keepalive()
            if self.failing_since() is not None:
                break  # every watch fails (the cluster out of reach): no use waiting longer
        if not self.mirror.synced and not self.stop.is_set():
            log.warning("%s: initial lists incomplete; deletions wait for them", PROGRAM)

    def on_demoted(self) -> None:
        self._stop_watching()
        self._reset()

    def _stop_watching(self) -> None:
        if self.watchers is not None:
            self.watchers.stop()
            self.watchers = None

    def pause(self) -> float:
        return 0.0  # each cycle already waits up to poll_seconds for watch events

    def failing_since(self) -> float | None:
        """Since when no watch has worked: the daemon's leader gives up after a bound."""
        return None if self.watchers is None else self.watchers.failing_since()

    # -- the cycle -----------------------------------------------------------------------

    def run_cycle(self) -> str:
        # With status writes left over from the last cycle, take what is queued and go on.
        backlog = self._writable_backlog()
        tally = _Tally(events=self._drain(wait=0.0 if backlog else self.config.poll_seconds))
        with self.pool.connection() as conn:
            conn.autocommit = True  # every step below commits on its own
            self._record_backups(conn)
            self._record_gone_snapshots(conn)
            self._record_windows(conn)
            finished = self._complete(conn, tally)
            tally.written = self._write_status(conn)
            tally.enqueued = self._dispatch_next(conn, {op.database_id for op in finished})
            now = self.clock()
            if now >= self._next_sweep:
                self._next_sweep = now + self.config.sweep_every_seconds
                tally.swept = self._sweep(conn)
                self.dirty.update(observed.behind_with_nothing_open(conn, limit=BEHIND_BATCH))
            if now >= self._next_cleanup:
                self._next_cleanup = now + self.config.cleanup_every_seconds
                tally.cleaned = self._clean_up(conn) + backup_expiry.delete_expired(
                    conn, self.cluster, self.config.deleted_backup_retention_seconds
                )
        metrics.count(PROGRAM, "status_write", tally.written)
        metrics.count(PROGRAM, "operation_succeeded", len(tally.succeeded))
        metrics.count(PROGRAM, "operation_failed", len(tally.failed))
        metrics.count(PROGRAM, "swept", tally.swept)
        metrics.count(PROGRAM, "opsrequest_deleted", tally.cleaned)
        return tally.line()

    def _writable_backlog(self) -> bool:
        """Dirty rows a cycle could write now. A row held back because its CR is absent from
        an incomplete view waits for a list (which arrives on the feed), not for a turn: a
        kind that cannot be listed (its CRD not installed, its list denied) must not make
        the loop spin without waiting, hammering PostgreSQL."""
        if self.mirror.synced:
            return bool(self.dirty)
        return any(self.mirror.database(db_id) is not None for db_id in self.dirty)

    def _drain(self, *, wait: float) -> int:
        """Apply queued watch items to the mirror (waiting up to `wait` for the first)."""
        if self.watchers is None:
            return 0
        feed = self.watchers.feed
        count = 0
        lists = 0
        try:
            item: Item = feed.get(timeout=wait) if wait > 0 else feed.get_nowait()
            while True:
                if item.plural in backup_view.PLURALS:
                    self.backup_view.apply(item)
                    count += 1
                    if count >= self.config.max_items_per_cycle:
                        break
                    item = feed.get_nowait()
                    continue
                touched = self.mirror.apply(item)
                self.dirty |= touched
                self._touched |= touched
                count += 1
                lists += isinstance(item, Listed)
                if count >= self.config.max_items_per_cycle:
                    break
                item = feed.get_nowait()
        except queue_module.Empty:
            pass
        metrics.count(PROGRAM, "watch_item", count)
        if lists:
            self._next_full_check = 0.0  # a list may change anything: check every operation
            # A full list replaced thousands of readings (and its pages were freed in the
            # watcher thread): hand the freed pages back, once per drain, not per list.
            del item
            memory.trim()
        return count

    def _complete(self, conn: Connection, tally: _Tally) -> list[OperationRecord]:
        """End the waiting operations whose Kubernetes side has ended: every one on a full
        check, else those whose CR or OpsRequest changed since the last check."""
        now = self.clock()
        full = now >= self._next_full_check
        touched, changed = self._touched, self.mirror.changed_operations
        if full:
            self._next_full_check = now + self.config.completion_check_seconds
            waiting = observed.waiting_operations(conn)
        elif touched or changed:
            waiting = observed.waiting_operations(conn, database_ids=touched, operation_ids=changed)
        else:
            waiting = []
        self._touched, self.mirror.changed_operations = set(), set()
        restores = self.backup_view.restores
        finished: list[OperationRecord] = []
        recorded = backups.by_operations(
            conn, [op.id for op in waiting if op.type == OperationType.BACKUP]
        )
        for op in waiting:
            view = dataclasses.replace(
                self._view(op, now), backup=recorded.get(op.id), restore=restores.get(op.id)
            )
            decision = rules.decide_completion(
                op, view, timeout_seconds=self.config.operation_timeout_seconds
            )
            if decision is None:
                continue
            if isinstance(decision, rules.Succeed):
                done = outcomes.succeed_operation(conn, op.id, actor=ACTOR)
                label = tally.succeeded
            else:
                done = outcomes.fail_operation(
                    conn,
                    op.id,
                    problem=decision.problem,
                    actor=ACTOR,
                    from_states=(OperationState.WAITING,),
                )
                label = tally.failed
            if done is not None:  # None: someone else ended it first
                log.info("operation %s: %s %s", op.id, op.type, _verdict(decision))
                label.append(f"{op.type} {str(op.id)[:8]}")
                finished.append(op)
                self.dirty.add(op.database_id)
        if full:  # forget the timers of operations no longer waiting
            still_waiting = {op.id for op in waiting} - {op.id for op in finished}
            for tracker in (self._successful_since, self._missing_since):
                for op_id in set(tracker) - still_waiting:
                    del tracker[op_id]
        return finished

    def _record_backups(self, conn: Connection) -> None:
        """Record what changed of dbaas's backups; a finished manual backup's operation is
        then checked by `_complete` in this same cycle."""
        readings = self.backup_view.take_readings()
        if not readings:
            return
        with conn.transaction():
            # Labels are read from the cluster: a session naming a database that has no row
            # here, or another project, is not ours to record (and would break the batch).
            owners = backups.owners(conn, {reading.database_id for reading in readings})
            for reading in readings:
                if owners.get(reading.database_id) != reading.project_id:
                    continue
                seen = reading.observed
                record, _ = backups.observe(
                    conn,
                    project_id=reading.project_id,
                    database_id=reading.database_id,
                    backup_session=reading.backup_session,
                    state=seen.state,
                    snapshot=seen.snapshot,
                    size_bytes=seen.size_bytes,
                    error=seen.error,
                    started_at=seen.started_at,
                    completed_at=seen.completed_at,
                )
                if record.operation_id is not None and record.state.is_terminal:
                    self.mirror.changed_operations.add(record.operation_id)
        metrics.count(PROGRAM, "backup_observed", len(readings))

    def _record_gone_snapshots(self, conn: Connection) -> None:
        """Rows of backups whose Snapshot is gone leave the listings (no restore from them)."""
        gone, existing = self.backup_view.take_gone_snapshots()
        marked = backups.mark_snapshots_deleted(conn, sorted(gone))
        if existing is not None:
            marked += backups.mark_missing_snapshots_deleted(conn, existing)
        metrics.count(PROGRAM, "snapshot_gone", marked)

    def _record_windows(self, conn: Connection) -> None:
        """Record the restorable windows of the archives that changed; a database's restore
        operations learn of their RestoreSessions' changes (`_complete` checks them)."""
        self.mirror.changed_operations |= self.backup_view.changed_restores
        self.backup_view.changed_restores = set()
        changed = self.backup_view.take_windows()
        if not changed:
            return
        with conn.transaction():
            for (namespace, database), window in changed.items():
                windows.record(conn, namespace=namespace, database=database, window=window)
        metrics.count(PROGRAM, "window_observed", len(changed))

    def _view(self, op: OperationRecord, now: float) -> rules.OpsView:
        cr = self.mirror.database(op.database_id)
        ops_obj = self.mirror.ops_request(op.id)
        verdict = cr_readings.ops_verdict(ops_obj) if ops_obj is not None else None
        successful_for = missing_for = None
        if verdict is not None and verdict.phase in cr_readings.OPS_SUCCEEDED:
            successful_for = now - self._successful_since.setdefault(op.id, now)
        else:
            self._successful_since.pop(op.id, None)
        if ops_obj is None and op.type in rules.OPS_REQUEST_TYPES and self.mirror.synced:
            missing_for = now - self._missing_since.setdefault(op.id, now)
        else:
            self._missing_since.pop(op.id, None)
        return rules.OpsView(
            database=cr_readings.observe_database(cr) if cr is not None else None,
            ops_request=verdict,
            ops_request_name=cr_readings.key(ops_obj)[1] if ops_obj is not None else None,
            synced=self.mirror.synced,
            successful_for=successful_for,
            missing_for=missing_for,
            running_for=_seconds_since(op.started_at),
        )

    def _write_status(self, conn: Connection) -> int:
        """Targeted status writes for the touched databases, a locked batch at a time."""
        written = 0
        limit = self.config.batch_size * self.config.max_batches_per_cycle
        # The first `limit` dirty ids in whatever order the set holds them, sorted only
        # among themselves: sorting the whole set every cycle cost more than the writes
        # while a new leader synced 100,000 rows (bench/README.md). Each batch still locks
        # its rows in id order.
        taken = sorted(itertools.islice(self.dirty, limit))
        for batch in _chunks(taken, self.config.batch_size):
            with conn.transaction():
                changes = []
                for snapshot in observed.lock_snapshots(conn, batch):
                    cr = self.mirror.database(snapshot.record.id)
                    if cr is None and not self.mirror.synced:
                        continue  # absent from an incomplete view proves nothing yet
                    seen = cr_readings.observe_database(cr) if cr is not None else None
                    status = rules.decide_status(snapshot, seen)
                    if status != ObservedStatus.of(snapshot.record):
                        changes.append((snapshot.record.id, status))
                written += observed.write_statuses(conn, changes)
            self.dirty.difference_update(
                db_id for db_id in batch if self.mirror.synced or self.mirror.database(db_id)
            )
        return written

    def _dispatch_next(self, conn: Connection, database_ids: set[uuid.UUID]) -> int:
        heads = [
            head.id
            for head in (operations.head_pending(conn, db_id) for db_id in database_ids)
            if head is not None
        ]
        return self._enqueue(conn, heads)

    def _sweep(self, conn: Connection) -> int:
        handed_over = heartbeats.expire_leases_of_silent_workers(
            conn, silent_for=self.config.silent_worker_seconds
        )
        if handed_over:
            log.warning(
                "%s: %d operation(s) of workers silent for %.0fs handed to another worker",
                PROGRAM,
                len(handed_over),
                self.config.silent_worker_seconds,
            )
        heartbeats.prune_silent(conn, silent_for=SILENT_WORKER_FORGOTTEN_SECONDS)
        stuck = operations.dispatchable(
            conn, pending_older_than=self.config.pending_redispatch_seconds
        )
        return self._enqueue(conn, stuck, queue_client.redispatch_operations)

    def _enqueue(
        self,
        conn: Connection,
        ids: Sequence[uuid.UUID],
        enqueue: Enqueue = queue_client.enqueue_operations,
    ) -> int:
        if not ids:
            return 0
        try:
            enqueued = enqueue(self.queue, ids)
        except Exception as error:  # Redis down: the sweeper tries again next time
            log.warning("%s: enqueue of %d operations failed: %s", PROGRAM, len(ids), error)
            return 0
        operations.mark_enqueued(conn, list(ids))
        return enqueued

    def _clean_up(self, conn: Connection) -> int:
        """Delete terminal OpsRequests whose result PostgreSQL has held long enough."""
        terminal: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {}
        for plural, obj in self.mirror.ops_requests():
            op_id = cr_readings.operation_id(obj)
            if op_id is not None and cr_readings.ops_verdict(obj).terminal:
                terminal[op_id] = (plural, obj)
        expired = observed.recorded_long_ago(
            conn, terminal, older_than_seconds=self.config.opsrequest_retention_seconds
        )
        deleted = 0
        for op_id in expired:
            plural, obj = terminal[op_id]
            namespace, name = cr_readings.key(obj)
            try:
                self.cluster.delete(self.resources[plural], namespace, name)
            except KubeError as error:
                if not error.not_found:
                    log.warning(
                        "%s: deleting %s %s/%s: %s", PROGRAM, plural, namespace, name, error
                    )
                    continue
            deleted += 1
        return deleted


def _seconds_since(moment: dt.datetime | None) -> float | None:
    """Wall-clock seconds since a PostgreSQL timestamp (both clocks are the pod's host's or
    NTP-synced; a skew of seconds matters nothing against an operation timeout)."""
    if moment is None:
        return None
    return (dt.datetime.now(dt.UTC) - moment).total_seconds()


def _chunks(items: list[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _few(labels: list[str]) -> str:
    return ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")


def _verdict(decision: rules.Completion) -> str:
    if isinstance(decision, rules.Succeed):
        return f"succeeded: {decision.why}"
    return f"failed: {decision.problem.get('detail')}"

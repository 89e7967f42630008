"""drift: the reconciler that notices a cluster edited or emptied behind dbaas's back.

Every `drift_interval_seconds`, as the leader, one pass:
1. observe: the desired side in one SQL query (live databases with their namespace, open
   operations and create state), THEN the cluster side with paginated lists of the four
   database kinds by label, never one GET per database. PostgreSQL first: an operation
   that finishes between the two reads then shows as open (skipped), never as a drift;
2. decide purely (`compare.Comparer`), each CR as it is read: its page is compared
   before the next is fetched and no reading is kept, so a pass holds the desired side
   and one page of CRs, never the whole cluster;
3. apply per database policy: `correct` records corrective operations (origin `drift`)
   through `control.corrections` and enqueues them after commit; `report` records a
   `drift.detected` event; orphans get a `drift.orphan` event and are never deleted.

While it leads (with `watch_timeout` set, as `dbaas drift` runs it), drift also watches the
database CRs (`watching`): every EVENT_POLL_SECONDS it judges the CRs that changed, so an
out-of-band edit gets its correction as it happens; the pass above runs every
`drift_interval_seconds` as the safety net.

The outcome line reads like "drift: 1000 checked, 3 skipped, 2 drifted (orders replicas 2→3;
billing missing), 1 orphan, 4 requests, 2 operations (2 enqueued)": each drift as
"field observed→desired", skipped = databases left alone this pass (open operation, not
created, failed, being deleted), requests = Kubernetes requests the pass made. It never
writes to the cluster.

With a BackupStorage configured (`backup_storage`), a pass also lists dbaas's
BackupConfigurations (one paginated list, small readings) and compares each database's
`backup` policy with its configuration (`backup_compare`): a configuration deleted, its
schedule edited or suspended behind dbaas's back (or one running although the policy is
null) is corrected with a `backup_policy` operation or reported, by the same drift policy.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from services.clients import postgres
from services.clients import queue as queue_client
from services.clients.kube import KubeClient, KubeError
from services.clients.postgres import Connection
from services.control import corrections
from services.domain.findings import Drift
from services.domain.resources import BACKUP_CONFIGURATION, database_resource, database_resources
from services.domain.snapshots import DesiredSnapshot
from services.reconcilers import cr_readings, listwatch, memory, metrics
from services.reconcilers.drift import backup_compare, compare, watching
from services.store import observed, operations, projects

log = logging.getLogger(__name__)

PROGRAM = "drift"


class DriftDetector:
    name = PROGRAM

    def __init__(
        self,
        *,
        pool: postgres.Pool,
        cluster: KubeClient,
        queue: queue_client.Queue,
        interval_seconds: float,
        page_limit: int = 500,
        clock: Callable[[], float] = time.monotonic,
        backup_storage: str | None = None,
        watch_timeout: int | None = None,
    ) -> None:
        """`watch_timeout`: watch the CRs while leading (`watching`), each watch request
        ending after this many seconds; None: passes only (tests that drive run_cycle)."""
        self.pool = pool
        self.cluster = cluster
        self.queue = queue
        self.interval_seconds = interval_seconds
        self.page_limit = page_limit
        self.clock = clock
        self.backup_storage = backup_storage
        """The server's BackupStorage setting; None: no backups, no configurations to list."""
        self.last: compare.Comparison | None = None
        self.last_requests = 0
        self.watch_timeout = watch_timeout
        self.watchers: listwatch.Watchers | None = None
        self.next_pass = 0.0
        """When the next full pass is due (clock), while watching."""

    def on_promoted(self) -> None:
        self.next_pass = self.clock()  # a new leader's first cycle is a full pass
        self.on_demoted()  # promoted again without a demotion: one set of watches only
        if self.watch_timeout is None:
            return
        self.watchers = listwatch.Watchers(
            self.cluster,
            database_resources(),
            program=PROGRAM,
            resync_seconds=watching.WATCH_RESYNC_SECONDS,
            watch_timeout=self.watch_timeout,
            from_now=True,
        )
        self.watchers.start()

    def on_demoted(self) -> None:
        if self.watchers is not None:
            self.watchers.stop()
            self.watchers = None

    def pause(self) -> float:
        if self.watchers is None:
            return self.interval_seconds
        return max(0.0, min(watching.EVENT_POLL_SECONDS, self.next_pass - self.clock()))

    def gauges(self) -> dict[str, dict[str, float]]:
        """The last pass's findings by kind (dbaas_drift_findings): databases whose CR is
        missing, whose spec differs, and CRs no database owns; empty before the first."""
        if self.last is None:
            return {}
        missing = sum(1 for found in self.last.drifts if found.missing)
        return {
            "drift_findings": {
                "missing": float(missing),
                "spec": float(len(self.last.drifts) - missing),
                "orphan": float(len(self.last.orphans)),
            }
        }

    def run_cycle(self) -> str:
        """A full pass, or while watching and no pass is due, a check of what changed."""
        if self.watchers is not None and self.clock() < self.next_pass:
            return self._check_changes(self.watchers)
        outcome = self._full_pass()
        self.next_pass = self.clock() + self.interval_seconds
        return outcome

    def _check_changes(self, watchers: listwatch.Watchers) -> str:
        """Judge the databases whose CRs the watch stream showed changed (no orphans: the
        pass reports those); `drift: idle` unless something drifted."""
        changes = watching.take_changes(watchers.feed)
        if not changes.ids:
            return f"{PROGRAM}: idle"
        with self.pool.connection() as conn:
            conn.autocommit = True
            desired = observed.live_databases_by_id(conn, changes.ids)
        comparer = compare.Comparer(desired, project_of_namespace={})
        for reading in changes.present.values():
            comparer.add(reading)
        comparison = comparer.result(gone=changes.gone)
        if comparison.drifts:
            comparison = self._confirm(desired, {d.database_id for d in comparison.drifts})
        if not comparison.drifts:
            return f"{PROGRAM}: idle"
        created, enqueued, reported = self._apply(comparison)
        metrics.count(PROGRAM, "drift", len(comparison.drifts))
        metrics.count(PROGRAM, "operation_created", len(created))
        outcome = _outcome(comparison, 0, len(created), enqueued, reported)
        return outcome.replace(f"{PROGRAM}: ", f"{PROGRAM}: watch: {changes.events} changes, ", 1)

    def _confirm(
        self, desired: list[DesiredSnapshot], drifted: set[uuid.UUID]
    ) -> compare.Comparison:
        """Judge the drifted databases again against their CRs as they are now (one GET
        each): a watched state was read before PostgreSQL, and an operation may have
        changed both since (the pass reads PostgreSQL first for the same reason)."""
        suspects = [s for s in desired if s.record.id in drifted]
        comparer = compare.Comparer(suspects, project_of_namespace={})
        gone = set()
        for snapshot in suspects:
            resource = database_resource(snapshot.record.engine)
            try:
                obj = self.cluster.get(resource, snapshot.namespace, snapshot.record.name)
            except KubeError as error:
                if not error.not_found:
                    raise
                gone.add(snapshot.record.id)
                continue
            obj.setdefault("kind", resource.kind)
            reading = _read_spec(obj)
            if reading is not None:
                comparer.add(reading)
        return dataclasses.replace(comparer.result(gone=gone), orphans=())

    def _full_pass(self) -> str:
        with self.pool.connection() as conn:
            conn.autocommit = True
            desired = observed.live_databases(conn)
            namespaces = {ns: project for project, ns in projects.namespaces(conn).items()}
        comparer = compare.Comparer(desired, project_of_namespace=namespaces)
        # The backup comparison needs the snapshots again; without backups the comparer
        # alone holds each one until its CR is judged.
        kept = desired if self.backup_storage is not None else None
        del desired
        requests = self._list_cluster(comparer)
        comparison = comparer.result()
        del comparer  # only the findings outlive the comparison
        if kept is not None:
            backup_drifts, listed = self._compare_backups(kept)
            requests += listed
            comparison = dataclasses.replace(
                comparison, drifts=comparison.drifts + tuple(backup_drifts)
            )
            del kept
        self.last, self.last_requests = comparison, requests
        created, enqueued, reported = self._apply(comparison)
        metrics.count(PROGRAM, "checked", comparison.checked)
        metrics.count(PROGRAM, "drift", len(comparison.drifts))
        metrics.count(PROGRAM, "orphan", len(comparison.orphans))
        metrics.count(PROGRAM, "operation_created", len(created))
        metrics.count(PROGRAM, "kubernetes_request", requests)
        memory.trim()  # the pass's snapshots and pages are freed: hand the pages back
        return _outcome(comparison, requests, len(created), enqueued, reported)

    def _apply(self, comparison: compare.Comparison) -> tuple[list[uuid.UUID], int, int]:
        """Correct or report each finding by its policy; the operations created, how many
        were enqueued, and how many findings were reported."""
        created: list[uuid.UUID] = []
        reported = 0
        with self.pool.connection() as conn:
            conn.autocommit = True
            for found in comparison.drifts:
                if found.policy == "correct" and found.corrections:
                    ops = corrections.correct_drift(conn, found)
                    created.extend(op.id for op in ops)
                    if ops:
                        log.info("drift: %s → %s", found.describe(), [op.type for op in ops])
                elif corrections.report_drift(conn, found):
                    reported += 1
                    log.info("drift: %s (reported)", found.describe())
            for orphan in comparison.orphans:
                if corrections.report_orphan(conn, orphan):
                    reported += 1
                    log.info("drift: orphan %s", orphan.describe())
            enqueued = self._enqueue(conn, created)
        return created, enqueued, reported

    def _list_cluster(self, comparer: compare.Comparer) -> int:
        """Every managed database CR, page by page, handed to `comparer` as it is read (its
        reading without conditions); how many requests that took."""

        def judge(obj: dict[str, Any]) -> None:
            reading = _read_spec(obj)
            if reading is not None:
                comparer.add(reading)
            return None  # nothing is kept in the listing

        requests = 0
        for resource in database_resources():
            listing: listwatch.Listing[None] | None = listwatch.list_readings(
                self.cluster, resource, judge, limit=self.page_limit
            )
            assert listing is not None  # only a stop event ends a list early
            requests += listing.requests
        return requests

    def _compare_backups(self, desired: list[DesiredSnapshot]) -> tuple[list[Drift], int]:
        """The backup drifts of the pass and the requests its list took."""
        listing = listwatch.list_readings(
            self.cluster,
            BACKUP_CONFIGURATION,
            backup_compare.read_configuration,
            limit=self.page_limit,
        )
        assert listing is not None  # only a stop event ends a list early
        drifts = backup_compare.compare_backups(
            desired, listing.readings, storage=self.backup_storage
        )
        return drifts, listing.requests

    def _enqueue(self, conn: Connection, ids: list[uuid.UUID]) -> int:
        if not ids:
            return 0
        try:
            queue_client.enqueue_operations(self.queue, ids)
        except Exception as error:  # Redis down: status-sync's sweeper dispatches them later
            log.warning("drift: enqueue of %d operations failed: %s", len(ids), error)
            return 0
        operations.mark_enqueued(conn, ids)
        return len(ids)


def _read_spec(obj: dict[str, Any]) -> cr_readings.ObservedDatabase | None:
    """What drift compares of a CR: its reading without conditions (`observe_database`)."""
    return cr_readings.observe_database(obj, with_conditions=False)


def _outcome(
    comparison: compare.Comparison, requests: int, created: int, enqueued: int, reported: int
) -> str:
    parts = [f"{comparison.checked} checked"]
    if comparison.skipped:
        parts.append(f"{comparison.skipped} skipped")
    drifts = comparison.drifts
    if drifts:
        shown = "; ".join(d.describe() for d in drifts[:3]) + ("; ..." if len(drifts) > 3 else "")
        parts.append(f"{len(drifts)} drifted ({shown})")
    else:
        parts.append("0 drifted")
    orphans = comparison.orphans
    parts.append(f"{len(orphans)} orphan" + ("s" if len(orphans) != 1 else ""))
    parts.append(f"{requests} requests")
    if created:
        parts.append(f"{created} operations ({enqueued} enqueued)")
    if reported:
        parts.append(f"{reported} reported")
    return f"{PROGRAM}: " + ", ".join(parts)

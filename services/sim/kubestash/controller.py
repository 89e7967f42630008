"""The simulated KubeStash operator's loop: store events -> dirty items -> reconcile, and
the schedule tick that turns cron schedules into BackupSessions on the simulated clock.

Level-triggered like the KubeDB half (`services.sim.operator`): an event only marks an
object dirty; one named task reconciles dirty objects from their current state; timed steps
run as named `Tasks`. Inactive (serves nothing, does nothing) when the KubeStash kinds are
not served (`--crds DIR` without them, `--no-crds`). What lives only in memory (hang
faults, next schedule times) is rebuilt from the objects after a restart with `--state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from typing import Any

from croniter import croniter

from services.sim import errors, objects, patching
from services.sim.apiserver import ApiServer
from services.sim.faults import Faults
from services.sim.kubestash import archivers, backups, configurations, restores
from services.sim.kubestash.clock import SimClock
from services.sim.kubestash.indexes import Index
from services.sim.operator import Tasks
from services.sim.resources import ResourceType
from services.sim.store import Event

log = logging.getLogger(__name__)

STASH_KINDS = {
    "backupstorages": "storage.kubestash.com",
    "retentionpolicies": "storage.kubestash.com",
    "repositories": "storage.kubestash.com",
    "snapshots": "storage.kubestash.com",
    "backupconfigurations": "core.kubestash.com",
    "backupsessions": "core.kubestash.com",
    "restoresessions": "core.kubestash.com",
    "addons": "addons.kubestash.com",
    "functions": "addons.kubestash.com",
}
TICK_SECONDS = 0.05
LOG_SHIP_TICKS = 10
"""Archived databases' log ranges move every LOG_SHIP_TICKS ticks (0.5 s of wall time)."""
Item = tuple[str, str, str]
"""(what, namespace, name): what is a plural, or `db:<Kind>` for a KubeDB database."""


class StashController:
    def __init__(self, cluster: ApiServer, faults: Faults, *, step_delay: float) -> None:
        self.cluster = cluster
        self.faults = faults
        self.step_delay = step_delay
        self.clock = SimClock(cluster.clock)
        self.tasks = Tasks()
        self.types: dict[str, ResourceType] = {}
        for plural, group in STASH_KINDS.items():
            rt = cluster.resources.find(group, "v1alpha1", plural)
            if rt is not None:
                self.types[plural] = rt
        self.active = len(self.types) == len(STASH_KINDS)
        self.archiver_types: dict[str, ResourceType] = {}
        for plural in archivers.ARCHIVERS.values():
            rt = cluster.resources.find(archivers.GROUP, "v1alpha1", plural)
            if rt is not None:
                self.archiver_types[plural] = rt
        self._archiver_keys = {rt.key: rt for rt in self.archiver_types.values()}
        self.archived: dict[tuple[str, str], tuple[str, bool]] = {}
        """(namespace, database) -> (kind, paused) of the databases being archived."""
        self.configuration_targets = Index()
        """BackupConfigurations by (namespace, kind, name) of their target."""
        self.restore_targets = Index()
        """RestoreSessions by (namespace, kind, name) of their kubedb.com target."""
        self.snapshots_by_repository = Index()
        """Snapshots not being deleted, by (namespace, repository label)."""
        self.recovering: set[str] = set()
        """uids of databases whose archiver recovery step is scheduled or hanging."""
        self._keys = {rt.key: plural for plural, rt in self.types.items()}
        self.hanging: set[str] = set()
        self.session_faults: dict[str, tuple[str, str]] = {}
        self.next_runs: dict[tuple[str, str, str], datetime.datetime] = {}
        self._dirty: dict[Item, None] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        if self.active:
            cluster.store.listeners.append(self._on_event)

    # -- plumbing --------------------------------------------------------------------------

    def rt(self, plural: str) -> ResourceType:
        return self.types[plural]

    def wall(self) -> datetime.datetime:
        return self.cluster.clock()

    def wall_now(self) -> str:
        return objects.timestamp(self.cluster.clock())

    def sim_now(self) -> datetime.datetime:
        return self.clock.now()

    def write_status(
        self, rt: ResourceType, namespace: str, name: str, new: dict[str, Any]
    ) -> None:
        body = {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            "metadata": {"name": name, "namespace": namespace},
            "status": new,
        }
        with contextlib.suppress(errors.ApiError):
            self.cluster.replace(rt, namespace, name, body, subresource="status", trusted=True)

    def merge(self, rt: ResourceType, namespace: str, name: str, patch: dict[str, Any]) -> None:
        with contextlib.suppress(errors.ApiError):
            self.cluster.patch(rt, namespace, name, patch, patching.MERGE, trusted=True)

    def drop_finalizer(self, rt: ResourceType, obj: dict[str, Any], finalizer: str) -> None:
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        if finalizers != list(obj["metadata"].get("finalizers") or []):
            meta = obj["metadata"]
            self.merge(
                rt,
                meta["namespace"],
                meta["name"],
                {"metadata": {"finalizers": finalizers or None}},
            )

    def find_target(self, target: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        group = target.get("apiGroup") or ""
        rt = next(
            (
                t
                for t in self.cluster.resources.types
                if t.group == group and t.kind == target.get("kind")
            ),
            None,
        )
        if rt is None:
            return None
        return self.cluster.find(rt, target.get("namespace") or namespace, target.get("name", ""))

    def _on_event(self, event: Event) -> None:
        plural = self._keys.get(event.resource)
        namespace, name = event.key
        if plural is not None:
            self._index(plural, event.key, None if event.type == "DELETED" else event.entry.obj)
            if plural == "snapshots":
                if event.entry.obj["metadata"].get("deletionTimestamp"):
                    self.mark(("snapshots", namespace, name))
                return
            if plural in ("backupstorages", "retentionpolicies", "addons"):
                self.mark((plural, namespace, name))
                self._mark_all("backupconfigurations")
                return
            if plural == "restoresessions":
                target = _target_of(event.entry.obj, namespace)
                if target is not None and target[0] == restores.KUBEDB_GROUP:
                    self.mark((f"db:{target[1]}", target[2], target[3]))
            if plural in ("backupconfigurations", "backupsessions", "restoresessions"):
                self.mark((plural, namespace, name))
            return
        if event.resource in self._archiver_keys:
            kind = event.entry.obj.get("kind", "").removesuffix("Archiver")
            self._mark_dbs(kind)
            return
        if event.resource.endswith(".kubedb.com") and event.resource.count(".") == 2:
            kind = event.entry.obj.get("kind")
            if kind:
                self.mark((f"db:{kind}", namespace, name))
                # A database appearing or going changes its BackupConfigurations' targetFound
                # and lets a RestoreSession waiting for it start.
                if event.type != "MODIFIED":
                    for index, plural in (
                        (self.configuration_targets, "backupconfigurations"),
                        (self.restore_targets, "restoresessions"),
                    ):
                        for key in index.keys((namespace, kind, name)):
                            self.mark((plural, *key))

    def _index(self, plural: str, key: tuple[str, str], obj: dict[str, Any] | None) -> None:
        if plural == "snapshots":
            meta = (obj or {}).get("metadata") or {}
            repo = (meta.get("labels") or {}).get(backups.LABEL_REPO)
            live = obj is not None and repo and not meta.get("deletionTimestamp")
            self.snapshots_by_repository.put(key, (key[0], repo) if live else None)
        elif plural in ("backupconfigurations", "restoresessions"):
            target = _target_of(obj, key[0])
            if plural == "backupconfigurations":
                self.configuration_targets.put(key, _db_key(target))
            else:
                kubedb = target is not None and target[0] == restores.KUBEDB_GROUP
                self.restore_targets.put(key, _db_key(target) if kubedb else None)

    def _reindex(self) -> None:
        for index in (
            self.configuration_targets,
            self.restore_targets,
            self.snapshots_by_repository,
        ):
            index.clear()
        for plural in ("snapshots", "backupconfigurations", "restoresessions"):
            for entry in self.cluster.iterate(self.rt(plural)):
                meta = entry.obj["metadata"]
                self._index(plural, (meta.get("namespace", ""), meta["name"]), entry.obj)

    def _mark_dbs(self, kind: str) -> None:
        rt = self.cluster.resources.by_kind("kubedb.com/v1", kind)
        if rt is None:
            return
        for entry in self.cluster.iterate(rt):
            meta = entry.obj["metadata"]
            self.mark((f"db:{kind}", meta.get("namespace", ""), meta["name"]))

    def _mark_all(self, plural: str, namespace: str | None = None) -> None:
        for entry in self.cluster.iterate(self.rt(plural), namespace):
            meta = entry.obj["metadata"]
            self.mark((plural, meta.get("namespace", ""), meta["name"]))

    def mark(self, item: Item) -> None:
        self._dirty[item] = None
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.active:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop.create_task(self._run(), name="sim-kubestash")
        self._ticker = loop.create_task(self._tick(), name="sim-kubestash-schedules")
        self.resync()

    def resync(self) -> None:
        """Mark every object: after a start from `--state`, what only lived in memory is
        rebuilt (indexes, running sessions' steps, schedules' next times)."""
        self._reindex()
        for plural in (
            "backupstorages",
            "backupconfigurations",
            "backupsessions",
            "restoresessions",
        ):
            self._mark_all(plural)
        for kind in archivers.ARCHIVERS:
            self._mark_dbs(kind)

    async def stop(self) -> None:
        for task in (self._loop, self._ticker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.tasks.cancel_all()

    async def reset(self) -> None:
        await self.tasks.cancel_all()
        self._dirty.clear()
        self.hanging.clear()
        self.session_faults.clear()
        self.next_runs.clear()
        self.archived.clear()
        self.recovering.clear()
        for index in (
            self.configuration_targets,
            self.restore_targets,
            self.snapshots_by_repository,
        ):
            index.clear()
        self.clock = SimClock(self.cluster.clock)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            handled = 0
            while self._dirty:
                item = next(iter(self._dirty))
                del self._dirty[item]
                try:
                    self.reconcile(item)
                except Exception:
                    log.exception("sim kubestash: reconcile of %s failed", item)
                handled += 1
                if handled % 50 == 0:
                    await asyncio.sleep(0)

    def reconcile(self, item: Item) -> None:
        what, namespace, name = item
        if what == "backupstorages":
            configurations.reconcile_storage(self, namespace, name)
        elif what == "backupconfigurations":
            configurations.reconcile_configuration(self, namespace, name)
        elif what == "backupsessions":
            backups.reconcile_session(self, namespace, name)
        elif what == "restoresessions":
            restores.reconcile_restore(self, namespace, name)
        elif what == "snapshots":
            snap = self.cluster.find(self.rt("snapshots"), namespace, name)
            if snap is not None and snap["metadata"].get("deletionTimestamp"):
                self.drop_finalizer(self.rt("snapshots"), snap, backups.FINALIZER)
                repo = (snap.get("spec") or {}).get("repository")
                if repo:
                    configurations.refresh_repository(self, namespace, str(repo))
        elif what.startswith("db:"):
            restores.reconcile_database(self, what[3:], namespace, name)

    # -- schedules -------------------------------------------------------------------------

    def schedule_next(
        self, namespace: str, bc: str, session: str, schedule: str, *, active: bool
    ) -> datetime.datetime | None:
        """The next run of a session (kept across reconciles); None for a bad schedule."""
        key = (namespace, bc, session)
        try:
            if not croniter.is_valid(schedule):
                raise ValueError(schedule)
            upcoming = self.next_runs.get(key)
            if upcoming is None:
                upcoming = croniter(schedule, self.sim_now()).get_next(datetime.datetime)
        except (ValueError, KeyError):
            self.next_runs.pop(key, None)
            return None
        if active:
            self.next_runs[key] = upcoming
        else:
            self.next_runs.pop(key, None)
        return upcoming

    def forget_schedules(self, namespace: str, bc: str) -> None:
        for key in [k for k in self.next_runs if k[:2] == (namespace, bc)]:
            del self.next_runs[key]

    def trigger(self, bc: dict[str, Any], session: str, at: datetime.datetime) -> None:
        """Create the BackupSession `<bc>-<session>-<unix seconds>` (as the CronJob does)."""
        meta = bc["metadata"]
        rt = self.rt("backupsessions")
        spec: dict[str, Any] = next(
            (s for s in bc["spec"].get("sessions") or [] if s.get("name") == session), {}
        )
        body: dict[str, Any] = {
            "apiVersion": rt.api_version,
            "kind": "BackupSession",
            "metadata": {
                "name": f"{meta['name']}-{session}-{int(at.timestamp())}",
                "namespace": meta["namespace"],
            },
            "spec": {
                "invoker": {
                    "apiGroup": "core.kubestash.com",
                    "kind": "BackupConfiguration",
                    "name": meta["name"],
                },
                "session": session,
            },
        }
        if spec.get("backupTimeout"):
            body["spec"]["backupTimeout"] = spec["backupTimeout"]
        with contextlib.suppress(errors.ApiError):
            self.cluster.create(rt, meta["namespace"], body, trusted=True)

    async def _tick(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            ticks += 1
            try:
                self.clock.set_speed(self.faults.kubestash.clock_speed)
                self._fire_due()
                if ticks % LOG_SHIP_TICKS == 0:
                    archivers.ship_logs(self)
            except Exception:
                log.exception("sim kubestash: schedule tick failed")

    def _fire_due(self) -> None:
        now = self.sim_now()
        rt = self.rt("backupconfigurations")
        for key, due in list(self.next_runs.items()):
            if due > now:
                continue
            namespace, name, session = key
            bc = self.cluster.find(rt, namespace, name)
            if bc is None:
                self.next_runs.pop(key, None)
                continue
            spec = bc.get("spec") or {}
            session_spec = next(
                (s for s in spec.get("sessions") or [] if s.get("name") == session), None
            )
            if session_spec is None:
                self.next_runs.pop(key, None)
                continue
            scheduler = session_spec.get("scheduler") or {}
            if not spec.get("paused") and not scheduler.get("suspend"):
                self.trigger(bc, session, due)
            # One run per tick and schedule: a fast clock catches up run by run.
            self.next_runs[key] = croniter(scheduler.get("schedule", ""), due).get_next(
                datetime.datetime
            )
            self.mark(("backupconfigurations", namespace, name))


def _target_of(obj: dict[str, Any] | None, namespace: str) -> tuple[str, str, str, str] | None:
    """(apiGroup, kind, namespace, name) of an object's spec.target, None without one."""
    target = ((obj or {}).get("spec") or {}).get("target") or {}
    if not target.get("kind") or not target.get("name"):
        return None
    return (
        str(target.get("apiGroup") or ""),
        str(target["kind"]),
        str(target.get("namespace") or namespace),
        str(target["name"]),
    )


def _db_key(target: tuple[str, str, str, str] | None) -> tuple[str, str, str] | None:
    """(namespace, kind, name): how a database event looks its dependents up."""
    return None if target is None else (target[2], target[1], target[3])

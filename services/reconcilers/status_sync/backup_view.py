"""status-sync's view of backups in the cluster: dbaas's BackupSessions and the Snapshots
KubeStash made for them, dbaas's RestoreSessions, and the archives of databases with
point-in-time recovery.

Why a view of its own: a backup's outcome is its Snapshot's (a BackupSession may fail after
its Snapshot succeeded, KUBESTASH-API.md §4), and the two objects change at different
moments, so status-sync keeps the latest of both and re-reads a backup whenever either
changes (`backup_readings.observe_backup`). Whose backup: a BackupSession dbaas created (on
demand) carries dbaas's labels; one KubeStash's schedule created carries none, so it is
attributed through its invoker, the BackupConfiguration dbaas created and labelled with the
database's id and project. So BackupSessions are listed whole (no selector; KubeStash keeps
a few per configuration), BackupConfigurations by dbaas's label (a session of a
configuration that is not ours is ignored), Snapshots by KubeStash's `repo-name` label
(KubeStash makes them, so they carry none of ours). RestoreSessions are held by their
operation's id (the restore operation's outcome is read from them). An archive is the
Snapshots of a `<db>-full` Repository (KubeDB makes them); when one changes, the database's
restorable window is computed again. Applied by the reconcile loop's thread only; never
talks to the cluster or the store.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from services.domain import backup_manifests, manifests
from services.domain.backup_readings import (
    ObservedBackup,
    ObservedRestore,
    observe_backup,
    observe_restore,
    restorable_window,
)
from services.domain.resources import (
    BACKUP_CONFIGURATION,
    BACKUP_SESSION,
    RESTORE_SESSION,
    SNAPSHOT,
)
from services.domain.restores import Window
from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import Changed, Item, Listed

Key = tuple[str, str]
SNAPSHOT_SELECTOR = backup_manifests.LABEL_REPO_NAME
"""Every Snapshot KubeStash made (an existence selector)."""
SESSION_SELECTOR = ""
"""Every BackupSession: the scheduled ones carry no label of ours."""
PLURALS = frozenset(
    {BACKUP_SESSION.plural, SNAPSHOT.plural, RESTORE_SESSION.plural, BACKUP_CONFIGURATION.plural}
)
ARCHIVE_SUFFIX = "-full"
"""KubeDB's Repository of an archived database `<db>`'s full backups is `<db>-full`."""


@dataclasses.dataclass(frozen=True)
class BackupReading:
    """One dbaas BackupSession's backup, with whose it is."""

    project_id: str
    database_id: uuid.UUID
    backup_session: str
    observed: ObservedBackup


class BackupView:
    def __init__(self) -> None:
        self._sessions: dict[Key, Mapping[str, Any]] = {}
        self._snapshots: dict[Key, Mapping[str, Any]] = {}
        self._configurations: dict[Key, Mapping[str, Any]] = {}
        self.dirty: set[Key] = set()
        """BackupSessions to read again: they or one of their Snapshots changed."""
        self.restores: dict[uuid.UUID, ObservedRestore] = {}
        """dbaas's RestoreSessions, by the id of their restore operation."""
        self.changed_restores: set[uuid.UUID] = set()
        self._restore_keys: dict[Key, uuid.UUID] = {}
        self._archives: dict[Key, set[Key]] = {}
        """(namespace, database name) -> the Snapshot keys of its `<db>-full` Repository."""
        self.gone_snapshots: set[str] = set()
        """Names of the Snapshots removed (retention, a person) since the last take."""
        self.snapshots_listed = False
        """A full list of the Snapshots arrived since the last take: every one the view does
        not hold is gone, including those removed while no status-sync watched."""
        self.dirty_archives: set[Key] = set()

    def apply(self, item: Item) -> None:
        if item.plural == RESTORE_SESSION.plural:
            self._apply_restore(item)
            return
        if isinstance(item, Listed):
            self.snapshots_listed |= item.plural == SNAPSHOT.plural
            held = self._held(item.plural)
            fresh = {cr_readings.key(obj): obj for obj in item.items}
            for key in set(held) - set(fresh):
                self._remove(item.plural, key)
            for key, obj in fresh.items():
                kept = held.get(key)
                if kept is None or cr_readings.resource_version(
                    kept
                ) != cr_readings.resource_version(obj):
                    self._put(item.plural, key, obj)
            return
        assert isinstance(item, Changed)
        key = cr_readings.key(item.obj)
        if item.type == "DELETED":
            self._remove(item.plural, key)
        else:
            self._put(item.plural, key, item.obj)

    def take_readings(self) -> list[BackupReading]:
        """The backups of the dirty BackupSessions (dirty is cleared)."""
        readings = []
        for key in sorted(self.dirty):
            session = self._sessions.get(key)
            if session is None:
                continue
            labels = self._owner_labels(key[0], session)
            try:
                database_id = uuid.UUID(str(labels.get(manifests.LABEL_DATABASE_ID)))
            except ValueError:
                continue
            project_id = labels.get(manifests.LABEL_PROJECT)
            if not project_id:
                continue
            namespace = key[0]
            names = [
                str(entry.get("name"))
                for entry in (session.get("status") or {}).get("snapshots") or []
                if isinstance(entry, Mapping) and entry.get("name")
            ]
            snapshots = {
                name: self._snapshots[(namespace, name)]
                for name in names
                if (namespace, name) in self._snapshots
            }
            finished = [s for s in snapshots.values() if _phase(s) in ("Succeeded", "Failed")]
            if len(finished) < len(names) and _phase(session) == "Succeeded":
                # The view holds its Snapshot not yet, or not yet finished: the Snapshot's
                # next event marks the session again, so a success is recorded with the
                # Snapshot's size, never without it.
                continue
            if len(finished) < len(snapshots) and _phase(session) == "Failed":
                # A Snapshot the view holds is still running: its failure (with KubeStash's
                # reason) or its success (which counts) is on its way. One the view does not
                # hold is not waited for: retention may have deleted it already.
                continue
            readings.append(
                BackupReading(
                    str(project_id), database_id, key[1], observe_backup(session, snapshots)
                )
            )
        self.dirty.clear()
        return readings

    def take_gone_snapshots(self) -> tuple[set[str], frozenset[str] | None]:
        """The Snapshots removed since the last take, and, after a full list, the name of
        every Snapshot the view holds (None otherwise); both are cleared."""
        gone, self.gone_snapshots = self.gone_snapshots, set()
        held = None
        if self.snapshots_listed:
            held = frozenset(name for _, name in self._snapshots)
            self.snapshots_listed = False
        return gone, held

    def take_windows(self) -> dict[Key, Window | None]:
        """The restorable windows of the archives that changed, by (namespace, database);
        None when nothing is restorable (dirty is cleared)."""
        windows: dict[Key, Window | None] = {}
        for archive in sorted(self.dirty_archives):
            snapshots = [
                self._snapshots[k] for k in self._archives.get(archive, ()) if k in self._snapshots
            ]
            found = restorable_window(snapshots)
            windows[archive] = None if found is None else Window(*found)
        self.dirty_archives.clear()
        return windows

    def _apply_restore(self, item: Item) -> None:
        if isinstance(item, Listed):
            for key in list(self._restore_keys):
                self._forget_restore(key)
            for obj in item.items:
                self._put_restore(obj)
            return
        assert isinstance(item, Changed)
        if item.type == "DELETED":
            self._forget_restore(cr_readings.key(item.obj))
        else:
            self._put_restore(item.obj)

    def _put_restore(self, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            return
        labels = (obj.get("metadata") or {}).get("labels") or {}
        try:
            operation_id = uuid.UUID(str(labels.get(manifests.LABEL_OPERATION_ID)))
        except ValueError:
            return
        self._restore_keys[cr_readings.key(obj)] = operation_id
        self.restores[operation_id] = observe_restore(obj)
        self.changed_restores.add(operation_id)

    def _forget_restore(self, key: Key) -> None:
        operation_id = self._restore_keys.pop(key, None)
        if operation_id is not None:
            self.restores.pop(operation_id, None)
            self.changed_restores.add(operation_id)

    def _owner_labels(self, namespace: str, session: Mapping[str, Any]) -> Mapping[str, Any]:
        """The labels that say whose backup a session is: its own (dbaas created it), else
        its BackupConfiguration's (KubeStash's schedule did); empty when neither is ours."""
        labels = (session.get("metadata") or {}).get("labels") or {}
        if labels.get(manifests.LABEL_DATABASE_ID):
            return labels
        configuration = self._configurations.get((namespace, _invoker(session)))
        if configuration is None:
            return {}
        return (configuration.get("metadata") or {}).get("labels") or {}

    def _held(self, plural: str) -> dict[Key, Mapping[str, Any]]:
        if plural == BACKUP_SESSION.plural:
            return self._sessions
        if plural == BACKUP_CONFIGURATION.plural:
            return self._configurations
        return self._snapshots

    def _put(self, plural: str, key: Key, obj: Any) -> None:
        if not isinstance(obj, Mapping):
            return
        if plural == BACKUP_CONFIGURATION.plural:
            obj = _whose(obj)
        self._held(plural)[key] = obj
        self._mark(plural, key, obj)
        archive = _archive_of(key, obj) if plural == SNAPSHOT.plural else None
        if archive is not None:
            self._archives.setdefault(archive, set()).add(key)
            self.dirty_archives.add(archive)

    def _remove(self, plural: str, key: Key) -> None:
        obj = self._held(plural).pop(key, None)
        if obj is not None and plural == SNAPSHOT.plural:
            self.gone_snapshots.add(key[1])
            self._mark(plural, key, obj)
            archive = _archive_of(key, obj)
            if archive is not None:
                members = self._archives.get(archive, set())
                members.discard(key)
                if not members:
                    self._archives.pop(archive, None)
                self.dirty_archives.add(archive)

    def _mark(self, plural: str, key: Key, obj: Mapping[str, Any]) -> None:
        if plural == BACKUP_SESSION.plural:
            self.dirty.add(key)
            return
        if plural == BACKUP_CONFIGURATION.plural:
            # Its sessions may have arrived first (lists come in any order): read them again.
            self.dirty.update(
                session_key
                for session_key, session in self._sessions.items()
                if session_key[0] == key[0] and _invoker(session) == key[1]
            )
            return
        session = (obj.get("spec") or {}).get("backupSession")
        if session and (key[0], str(session)) in self._sessions:
            self.dirty.add((key[0], str(session)))


def _archive_of(key: Key, obj: Mapping[str, Any]) -> Key | None:
    """(namespace, database) when the Snapshot belongs to a database's archive."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    database = labels.get(backup_manifests.LABEL_APP_REF_NAME)
    if database and labels.get(backup_manifests.LABEL_REPO_NAME) == f"{database}{ARCHIVE_SUFFIX}":
        return key[0], str(database)
    return None


def _whose(configuration: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the view keeps of a BackupConfiguration: whose it is (its labels) and its
    version, not its spec and status (one per database with backups)."""
    meta = configuration.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": dict(meta.get("labels") or {}),
        }
    }


def _invoker(session: Mapping[str, Any]) -> str:
    """The BackupConfiguration that invoked a session ("" for another invoker kind)."""
    invoker = (session.get("spec") or {}).get("invoker") or {}
    if invoker.get("kind") != BACKUP_CONFIGURATION.kind:
        return ""
    return str(invoker.get("name") or "")


def _phase(obj: Mapping[str, Any]) -> str | None:
    phase = (obj.get("status") or {}).get("phase")
    return None if phase is None else str(phase)

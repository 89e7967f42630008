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

What it holds of each object is its reading (`backup_readings.read_session`,
`read_snapshot`, `read_configuration`: the listers make them page by page), never the
object: at ~30 Snapshots per database, whole Snapshots would be most of the pod's memory
(bench/README.md). A re-listed object whose reading did not change is not read again.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from services.domain import backup_manifests, manifests
from services.domain.backup_readings import (
    ConfigurationReading,
    ObservedBackup,
    ObservedRestore,
    SessionReading,
    SnapshotReading,
    observe_backup,
    observe_restore,
    read_configuration,
    read_session,
    read_snapshot,
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
Held = SessionReading | SnapshotReading | ConfigurationReading


@dataclasses.dataclass(frozen=True)
class BackupReading:
    """One dbaas BackupSession's backup, with whose it is."""

    project_id: str
    database_id: uuid.UUID
    backup_session: str
    observed: ObservedBackup


class BackupView:
    def __init__(self) -> None:
        self._sessions: dict[Key, SessionReading] = {}
        self._snapshots: dict[Key, SnapshotReading] = {}
        self._configurations: dict[Key, ConfigurationReading] = {}
        self._invoked: dict[Key, set[Key]] = {}
        """(namespace, BackupConfiguration) -> the keys of the sessions it invoked."""
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
            fresh: dict[Key, Held] = {}
            for obj in item.items:
                reading = _read(item.plural, obj)
                if reading is not None:
                    fresh[reading.namespace, reading.name] = reading
            for key in set(held) - set(fresh):
                self._remove(item.plural, key)
            for key, reading in fresh.items():
                if held.get(key) != reading:
                    self._put(item.plural, key, reading)
            return
        assert isinstance(item, Changed)
        reading = _read(item.plural, item.obj)
        if reading is None:
            return
        key = reading.namespace, reading.name
        if item.type == "DELETED":
            self._remove(item.plural, key)
        else:
            self._put(item.plural, key, reading)

    def take_readings(self) -> list[BackupReading]:
        """The backups of the dirty BackupSessions (dirty is cleared)."""
        readings = []
        for key in sorted(self.dirty):
            session = self._sessions.get(key)
            if session is None:
                continue
            database_label, project_id = self._owner(key[0], session)
            try:
                database_id = uuid.UUID(str(database_label))
            except ValueError:
                continue
            if not project_id:
                continue
            namespace = key[0]
            names = [name for name, _ in session.snapshots]
            snapshots = {
                name: self._snapshots[(namespace, name)]
                for name in names
                if (namespace, name) in self._snapshots
            }
            finished = [s for s in snapshots.values() if s.phase in ("Succeeded", "Failed")]
            if len(finished) < len(names) and session.phase == "Succeeded":
                # The view holds its Snapshot not yet, or not yet finished: the Snapshot's
                # next event marks the session again, so a success is recorded with the
                # Snapshot's size, never without it.
                continue
            if len(finished) < len(snapshots) and session.phase == "Failed":
                # A Snapshot the view holds is still running: its failure (with KubeStash's
                # reason) or its success (which counts) is on its way. One the view does not
                # hold is not waited for: retention may have deleted it already.
                continue
            readings.append(
                BackupReading(project_id, database_id, key[1], observe_backup(session, snapshots))
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
            if isinstance(item.obj, Mapping):
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

    def _owner(self, namespace: str, session: SessionReading) -> tuple[str | None, str | None]:
        """(database id label, project) that say whose backup a session is: its own (dbaas
        created it), else its BackupConfiguration's (KubeStash's schedule did); (None, None)
        when neither is ours."""
        if session.database_id:
            return session.database_id, session.project
        configuration = self._configurations.get((namespace, session.invoker))
        if configuration is None:
            return None, None
        return configuration.database_id, configuration.project

    def _held(self, plural: str) -> dict[Key, Any]:
        if plural == BACKUP_SESSION.plural:
            return self._sessions
        if plural == BACKUP_CONFIGURATION.plural:
            return self._configurations
        return self._snapshots

    def _put(self, plural: str, key: Key, reading: Held) -> None:
        previous = self._held(plural).get(key)
        self._held(plural)[key] = reading
        if isinstance(reading, SessionReading):
            if isinstance(previous, SessionReading) and previous.invoker != reading.invoker:
                self._uninvoke(key, previous)
            self._invoked.setdefault((key[0], reading.invoker), set()).add(key)
        self._mark(key, reading)
        archive = _archive_of(reading)
        if archive is not None:
            self._archives.setdefault(archive, set()).add(key)
            self.dirty_archives.add(archive)

    def _remove(self, plural: str, key: Key) -> None:
        reading = self._held(plural).pop(key, None)
        if isinstance(reading, SessionReading):
            self._uninvoke(key, reading)
        if isinstance(reading, SnapshotReading):
            self.gone_snapshots.add(key[1])
            self._mark(key, reading)
            archive = _archive_of(reading)
            if archive is not None:
                members = self._archives.get(archive, set())
                members.discard(key)
                if not members:
                    self._archives.pop(archive, None)
                self.dirty_archives.add(archive)

    def _mark(self, key: Key, reading: Held) -> None:
        if isinstance(reading, SessionReading):
            self.dirty.add(key)
            return
        if isinstance(reading, ConfigurationReading):
            # Its sessions may have arrived first (lists come in any order): read them again.
            self.dirty.update(self._invoked.get(key, ()))
            return
        session_key = (key[0], reading.backup_session or "")
        if reading.backup_session and session_key in self._sessions:
            self.dirty.add(session_key)

    def _uninvoke(self, key: Key, session: SessionReading) -> None:
        invoker = (key[0], session.invoker)
        sessions = self._invoked.get(invoker)
        if sessions is not None:
            sessions.discard(key)
            if not sessions:
                del self._invoked[invoker]


def _read(plural: str, obj: object) -> Held | None:
    """The reading of a listed or watched object (the listers made it already; a whole
    object, as tests hand them, is read here). None for anything else."""
    if isinstance(obj, SessionReading | SnapshotReading | ConfigurationReading):
        return obj
    if not isinstance(obj, Mapping):
        return None
    if plural == BACKUP_SESSION.plural:
        return read_session(obj)
    if plural == BACKUP_CONFIGURATION.plural:
        return read_configuration(obj)
    return read_snapshot(obj)


def _archive_of(reading: Held) -> Key | None:
    """(namespace, database) when the Snapshot belongs to a database's archive."""
    if isinstance(reading, SnapshotReading) and reading.archive is not None:
        return reading.namespace, reading.archive
    return None

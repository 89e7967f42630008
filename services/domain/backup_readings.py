"""Read a backup's state, a restore's outcome and a PITR window from KubeStash objects.

Why: status-sync will turn what the cluster shows into `backups` rows and database states;
the rules for that are KubeStash's and KubeDB's (KUBESTASH-API.md §3, §4, §6), and they have
traps: a BackupSession can be Failed while its Snapshot Succeeded (a failed retention Job),
so a backup's outcome is its Snapshot's; an Invalid RestoreSession never completes for
KubeDB; the restorable window is no field but the oldest Succeeded full Snapshot and the
incremental Snapshot's `logStats.end`. Keeping these readings here, pure, next to the
renderers (`backup_manifests`), lets status-sync and drift share them and the tests check
them against what the simulated KubeStash writes. No I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import sys
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from services.domain import backup_manifests, manifests
from services.domain.backups import BackupState
from services.domain.resources import BACKUP_CONFIGURATION

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]i?B|B)?\s*")
_UNITS: dict[str | None, int] = {
    None: 1,
    "B": 1,
    **{f"{p}iB": 2 ** (10 * (i + 1)) for i, p in enumerate("KMGTPE")},
    **{f"{p}B": 10 ** (3 * (i + 1)) for i, p in enumerate("KMGTPE")},
}
_SESSION_STATES = {
    "Pending": BackupState.PENDING,
    "Running": BackupState.RUNNING,
    "Succeeded": BackupState.SUCCEEDED,
    "Failed": BackupState.FAILED,
    "Skipped": BackupState.FAILED,
}


ARCHIVE_SUFFIX = "-full"
"""KubeDB's Repository of an archived database `<db>`'s full backups is `<db>-full`."""
INCREMENTAL = "IncrementalBackup"


@dataclasses.dataclass(frozen=True, slots=True)
class SnapshotReading:
    """What the rules read of a Snapshot (`read_snapshot`)."""

    namespace: str
    name: str
    phase: str | None
    backup_session: str | None
    """`spec.backupSession`: the BackupSession that made it."""
    size_bytes: int | None
    error: str | None
    """The first component's error."""
    updated_at: datetime.datetime | None
    """`status.lastUpdateTime`: when it finished, once it did."""
    snapshot_time: datetime.datetime | None
    incremental: bool
    log_end: datetime.datetime | None
    """An incremental Snapshot's latest `logStats.end`."""
    archive: str | None
    """The database whose archive (`<db>-full` Repository) it belongs to, else None."""


@dataclasses.dataclass(frozen=True, slots=True)
class SessionReading:
    """What the rules read of a BackupSession (`read_session`)."""

    namespace: str
    name: str
    phase: str | None
    database_id: str | None
    """dbaas's `database-id` label: set on the sessions dbaas created (on demand)."""
    project: str | None
    invoker: str
    """The BackupConfiguration that invoked it ("" for another invoker kind)."""
    snapshots: tuple[tuple[str, str | None], ...]
    """(name, phase) of each Snapshot its status names, in its order."""
    error: str | None
    """KubeStash's reason when it failed or was skipped (`_session_error`)."""
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    """The latest condition transition (when it finished, once it did)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigurationReading:
    """Whose a BackupConfiguration is: dbaas's labels (its sessions carry none)."""

    namespace: str
    name: str
    database_id: str | None
    project: str | None


def read_snapshot(obj: Mapping[str, Any]) -> SnapshotReading:
    meta = _mapping(obj.get("metadata"))
    labels = _mapping(meta.get("labels"))
    spec = _mapping(obj.get("spec"))
    status = _mapping(obj.get("status"))
    incremental = spec.get("type") == INCREMENTAL
    log_end = None
    if incremental:
        for component in _mapping(status.get("components")).values():
            end = parse_time(_mapping(_mapping(component).get("logStats")).get("end"))
            if end is not None and (log_end is None or end > log_end):
                log_end = end
    database = labels.get(backup_manifests.LABEL_APP_REF_NAME)
    in_archive = (
        database and labels.get(backup_manifests.LABEL_REPO_NAME) == f"{database}{ARCHIVE_SUFFIX}"
    )
    session = spec.get("backupSession")
    return SnapshotReading(
        namespace=_shared(str(meta.get("namespace") or "")),
        name=str(meta.get("name") or ""),
        phase=_shared_text(status.get("phase")),
        backup_session=_shared_text(session) if session else None,
        size_bytes=parse_size(status.get("size")),
        error=_snapshot_error(status),
        updated_at=parse_time(status.get("lastUpdateTime")),
        snapshot_time=parse_time(status.get("snapshotTime")),
        incremental=incremental,
        log_end=log_end,
        archive=_shared(str(database)) if in_archive else None,
    )


def read_session(obj: Mapping[str, Any]) -> SessionReading:
    meta = _mapping(obj.get("metadata"))
    labels = _mapping(meta.get("labels"))
    status = _mapping(obj.get("status"))
    invoker = _mapping(_mapping(obj.get("spec")).get("invoker"))
    database_id = labels.get(manifests.LABEL_DATABASE_ID)
    project = labels.get(manifests.LABEL_PROJECT)
    entries = tuple(
        (str(entry["name"]), _shared_text(entry.get("phase")))
        for entry in status.get("snapshots") or []
        if isinstance(entry, Mapping) and entry.get("name")
    )
    return SessionReading(
        namespace=_shared(str(meta.get("namespace") or "")),
        name=_shared(str(meta.get("name") or "")),
        phase=_shared_text(status.get("phase")),
        database_id=str(database_id) if database_id else None,
        project=_shared(str(project)) if project else None,
        invoker=(
            str(invoker.get("name") or "")
            if invoker.get("kind") == BACKUP_CONFIGURATION.kind
            else ""
        ),
        snapshots=entries,
        error=_session_error(status),
        started_at=parse_time(meta.get("creationTimestamp")),
        finished_at=_finished_at(status),
    )


def read_configuration(obj: Mapping[str, Any]) -> ConfigurationReading:
    meta = _mapping(obj.get("metadata"))
    labels = _mapping(meta.get("labels"))
    database_id = labels.get(manifests.LABEL_DATABASE_ID)
    project = labels.get(manifests.LABEL_PROJECT)
    return ConfigurationReading(
        namespace=_shared(str(meta.get("namespace") or "")),
        name=str(meta.get("name") or ""),
        database_id=str(database_id) if database_id else None,
        project=_shared(str(project)) if project else None,
    )


@dataclasses.dataclass(frozen=True)
class ObservedBackup:
    """What one BackupSession (and its Snapshot) says about a backup."""

    state: BackupState
    snapshot: str | None
    size_bytes: int | None
    error: str | None
    started_at: datetime.datetime | None
    completed_at: datetime.datetime | None


class RestoreOutcome(str, Enum):
    NONE = "none"  # the database waits for no restore
    WAITING = "waiting"  # waits, no restore has started
    RESTORING = "restoring"
    RESTORED = "restored"
    FAILED = "failed"


def parse_size(text: object) -> int | None:
    """KubeStash's human sizes (`12.500 MiB`, `3 GB`, `512 B`) in bytes; None if unreadable."""
    if not isinstance(text, str):
        return None
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(text: object) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def observe_backup(
    session: Mapping[str, Any] | SessionReading,
    snapshots: Mapping[str, Mapping[str, Any] | SnapshotReading],
) -> ObservedBackup:
    """A backup's state from its BackupSession and the Snapshots (by name) it produced
    (objects or their readings).

    The Snapshot decides once it is finished (Succeeded counts even when the BackupSession
    Failed afterwards); before, the BackupSession's phase does. Skipped is a failure with
    the skip's reason (another backup was running, or the configuration is not ready).
    """
    if not isinstance(session, SessionReading):
        session = read_session(session)
    name = session.snapshots[0][0] if session.snapshots else None
    found = snapshots.get(name) if name else None
    snapshot = (
        None
        if found is None
        else found
        if isinstance(found, SnapshotReading)
        else read_snapshot(_mapping(found))
    )
    snap_phase = (snapshot.phase if snapshot is not None else None) or next(
        (phase for entry, phase in session.snapshots if entry == name), None
    )
    phase = session.phase
    state = _SESSION_STATES.get(str(phase), BackupState.PENDING)
    if snap_phase == "Succeeded":
        state = BackupState.SUCCEEDED
    elif snap_phase == "Failed":
        state = BackupState.FAILED
    error = None
    if state is BackupState.FAILED:
        snap_error = snapshot.error if snapshot is not None else None
        error = snap_error or session.error or f"BackupSession {phase}"
    completed = None
    if state.is_terminal:
        completed = (snapshot.updated_at if snapshot is not None else None) or session.finished_at
    size = snapshot.size_bytes if snapshot is not None else None
    return ObservedBackup(
        state=state,
        snapshot=name,
        size_bytes=size if state is BackupState.SUCCEEDED else None,
        error=error,
        started_at=session.started_at,
        completed_at=completed,
    )


def restorable_window(
    snapshots: Iterable[Mapping[str, Any] | SnapshotReading],
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(earliest, latest) restorable time of an archive from its `<db>-full` Snapshots
    (objects or their readings): the oldest Succeeded full Snapshot to the incremental
    Snapshot's `logStats.end`."""
    earliest: datetime.datetime | None = None
    latest: datetime.datetime | None = None
    for found in snapshots:
        snapshot = found if isinstance(found, SnapshotReading) else read_snapshot(found)
        if snapshot.incremental:
            end = snapshot.log_end
            if end is not None and (latest is None or end > latest):
                latest = end
        elif snapshot.phase == "Succeeded":
            taken = snapshot.snapshot_time
            if taken is not None and (earliest is None or taken < earliest):
                earliest = taken
    if earliest is None or latest is None or latest < earliest:
        return None
    return earliest, latest


RESTORE_FAILED_PHASES = frozenset({"Failed", "Invalid", "Unknown"})
"""RestoreSession phases after which the restore never succeeds (§4); KubeDB leaves the
database DataRestoring after an Invalid one, so status-sync must end it itself."""


@dataclasses.dataclass(frozen=True)
class ObservedRestore:
    """What a RestoreSession says: its phase and, when it failed, KubeStash's reason."""

    name: str
    phase: str | None
    error: str | None

    @property
    def failed(self) -> bool:
        return self.phase in RESTORE_FAILED_PHASES

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"


def observe_restore(session: Mapping[str, Any]) -> ObservedRestore:
    """A RestoreSession's phase and, once it failed, the reason: a component's error, else
    the first False condition (ValidationPassed for an Invalid one)."""
    status = _mapping(session.get("status"))
    phase = status.get("phase")
    error = None
    if phase in RESTORE_FAILED_PHASES:
        error = (
            _snapshot_error(status)
            or _session_error(status)
            or f"RestoreSession {phase} without a reason"
        )
    name = str(_mapping(session.get("metadata")).get("name") or "")
    return ObservedRestore(name, None if phase is None else str(phase), error)


def restore_outcome(database_cr: Mapping[str, Any]) -> tuple[RestoreOutcome, str | None]:
    """Where a database's initial restore stands, from KubeDB's conditions (§3), and the
    reason or message worth showing when it failed."""
    init = _mapping(_mapping(database_cr.get("spec")).get("init"))
    conditions = {
        c.get("type"): c
        for c in _mapping(database_cr.get("status")).get("conditions") or []
        if isinstance(c, Mapping)
    }
    restored = conditions.get("DataRestored")
    if restored is not None:
        if restored.get("status") == "True":
            return RestoreOutcome.RESTORED, None
        return RestoreOutcome.FAILED, str(restored.get("message") or restored.get("reason") or "")
    if _mapping(conditions.get("DataRestoreStarted")).get("status") == "True":
        return RestoreOutcome.RESTORING, None
    if init.get("waitForInitialRestore") or init.get("archiver"):
        return RestoreOutcome.WAITING, None
    return RestoreOutcome.NONE, None


def _snapshot_error(status: Mapping[str, Any]) -> str | None:
    for component in _mapping(status.get("components")).values():
        error = _mapping(component).get("error")
        if error:
            return str(error)
    return None


def _session_error(status: Mapping[str, Any]) -> str | None:
    for entry in status.get("retentionPolicy") or []:
        if isinstance(entry, Mapping) and entry.get("error"):
            return f"retention: {entry['error']}"
    for cond in status.get("conditions") or []:
        if not isinstance(cond, Mapping):
            continue
        failed = cond.get("status") == "False"
        skipped = cond.get("type") == "BackupSkipped" and cond.get("status") == "True"
        if failed or skipped:
            return str(cond.get("message") or cond.get("reason") or cond.get("type"))
    return None


def _finished_at(status: Mapping[str, Any]) -> datetime.datetime | None:
    times = [
        parse_time(c.get("lastTransitionTime"))
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _mapping(value: object) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON gives: skip the slower ABC check
        return value
    return value if isinstance(value, Mapping) else {}


def _shared(text: str) -> str:
    """One copy of a string many readings hold (namespaces, phases, projects)."""
    return sys.intern(text)


def _shared_text(value: object) -> str | None:
    return None if value is None else sys.intern(str(value))

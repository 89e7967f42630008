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
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from services.domain.backups import BackupState

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
    session: Mapping[str, Any], snapshots: Mapping[str, Mapping[str, Any]]
) -> ObservedBackup:
    """A backup's state from its BackupSession and the Snapshots (by name) it produced.

    The Snapshot decides once it is finished (Succeeded counts even when the BackupSession
    Failed afterwards); before, the BackupSession's phase does. Skipped is a failure with
    the skip's reason (another backup was running, or the configuration is not ready).
    """
    status = _mapping(session.get("status"))
    phase = status.get("phase")
    entries = [e for e in status.get("snapshots") or [] if isinstance(e, Mapping)]
    name = next((str(e["name"]) for e in entries if e.get("name")), None)
    snapshot = _mapping(snapshots.get(name)) if name else {}
    snap_status = _mapping(snapshot.get("status"))
    snap_phase = snap_status.get("phase") or next(
        (e.get("phase") for e in entries if e.get("name") == name), None
    )
    state = _SESSION_STATES.get(str(phase), BackupState.PENDING)
    if snap_phase == "Succeeded":
        state = BackupState.SUCCEEDED
    elif snap_phase == "Failed":
        state = BackupState.FAILED
    error = None
    if state is BackupState.FAILED:
        error = _snapshot_error(snap_status) or _session_error(status) or f"BackupSession {phase}"
    started = parse_time(_mapping(session.get("metadata")).get("creationTimestamp"))
    completed = None
    if state.is_terminal:
        completed = parse_time(snap_status.get("lastUpdateTime")) or _finished_at(status)
    return ObservedBackup(
        state=state,
        snapshot=name,
        size_bytes=parse_size(snap_status.get("size")) if state is BackupState.SUCCEEDED else None,
        error=error,
        started_at=started,
        completed_at=completed,
    )


def restorable_window(
    snapshots: Iterable[Mapping[str, Any]],
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(earliest, latest) restorable time of an archive from its `<db>-full` Snapshots:
    the oldest Succeeded full Snapshot to the incremental Snapshot's `logStats.end`."""
    earliest: datetime.datetime | None = None
    latest: datetime.datetime | None = None
    for snapshot in snapshots:
        status = _mapping(snapshot.get("status"))
        if _mapping(snapshot.get("spec")).get("type") == "IncrementalBackup":
            for component in _mapping(status.get("components")).values():
                end = parse_time(_mapping(_mapping(component).get("logStats")).get("end"))
                if end is not None and (latest is None or end > latest):
                    latest = end
        elif status.get("phase") == "Succeeded":
            taken = parse_time(status.get("snapshotTime"))
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
    return value if isinstance(value, Mapping) else {}

"""Reading backups, restores and PITR windows from KubeStash objects (KUBESTASH-API.md §3-§6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.domain import backup_readings as readings
from services.domain.backup_readings import RestoreOutcome
from services.domain.backups import BackupState

T0 = "2026-12-07T02:00:00Z"
T1 = "2026-12-07T02:03:00Z"


def session(
    phase: str | None, *, snapshot: str | None = "repo-s-1", **status: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "s-1", "creationTimestamp": T0}, "status": {}}
    if phase:
        body["status"]["phase"] = phase
    if snapshot:
        body["status"]["snapshots"] = [{"name": snapshot, "phase": "Running"}]
    body["status"].update(status)
    return body


def snapshot(phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "repo-s-1"},
        "spec": {"type": "FullBackup"},
        "status": {"phase": phase, **status},
    }


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("12.500 MiB", 13107200),
        ("3 GB", 3 * 10**9),
        ("512 B", 512),
        ("7", 7),
        ("1.5GiB", 3 * 2**29),
    ],
)
def test_sizes_are_read_in_bytes(text: str, size: int) -> None:
    assert readings.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", None, 12])
def test_unreadable_sizes_are_none(text: object) -> None:
    assert readings.parse_size(text) is None


def test_a_running_session_is_a_running_backup() -> None:
    seen = readings.observe_backup(session("Running"), {"repo-s-1": snapshot("Running")})
    assert seen.state is BackupState.RUNNING and seen.snapshot == "repo-s-1"
    assert seen.started_at == dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    assert seen.completed_at is None and seen.size_bytes is None


def test_a_new_session_is_pending() -> None:
    assert readings.observe_backup(session(None, snapshot=None), {}).state is BackupState.PENDING


def test_a_succeeded_snapshot_counts_even_when_its_session_failed() -> None:
    failed_retention = session(
        "Failed", retentionPolicy=[{"phase": "FailedToApply", "error": "gone"}]
    )
    seen = readings.observe_backup(
        failed_retention, {"repo-s-1": snapshot("Succeeded", size="2 MiB", lastUpdateTime=T1)}
    )
    assert seen.state is BackupState.SUCCEEDED and seen.error is None
    assert seen.size_bytes == 2 * 2**20
    assert seen.completed_at == dt.datetime(2026, 12, 7, 2, 3, tzinfo=dt.UTC)


def test_a_failed_snapshot_fails_the_backup_with_the_components_error() -> None:
    failed = snapshot("Failed", components={"dump": {"phase": "Failed", "error": "disk full"}})
    seen = readings.observe_backup(session("Failed"), {"repo-s-1": failed})
    assert seen.state is BackupState.FAILED and seen.error == "disk full"


def test_a_skipped_session_is_a_failed_backup_saying_why() -> None:
    skipped = session(
        "Skipped",
        snapshot=None,
        conditions=[
            {
                "type": "BackupSkipped",
                "status": "True",
                "reason": "PreRequisitesNotSatisfied",
                "message": "Skipped taking backup: another backup was running",
                "lastTransitionTime": T1,
            }
        ],
    )
    seen = readings.observe_backup(skipped, {})
    assert seen.state is BackupState.FAILED
    assert seen.error == "Skipped taking backup: another backup was running"
    assert seen.completed_at == dt.datetime(2026, 12, 7, 2, 3, tzinfo=dt.UTC)


def test_the_restorable_window_runs_from_the_oldest_full_snapshot_to_the_log_end() -> None:
    full = [
        {"spec": {"type": "FullBackup"}, "status": {"phase": "Succeeded", "snapshotTime": T1}},
        {"spec": {"type": "FullBackup"}, "status": {"phase": "Succeeded", "snapshotTime": T0}},
        {
            "spec": {"type": "FullBackup"},
            "status": {"phase": "Failed", "snapshotTime": "2026-12-06T00:00:00Z"},
        },
        {
            "spec": {"type": "IncrementalBackup"},
            "status": {
                "components": {"wal": {"logStats": {"start": T0, "end": "2026-12-07T05:00:00Z"}}}
            },
        },
    ]
    assert readings.restorable_window(full) == (
        dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC),
    )
    assert readings.restorable_window(full[:2]) is None  # no log shipped: nothing to replay
    assert readings.restorable_window(full[3:]) is None  # no full backup to start from


def database(init: dict[str, Any] | None = None, *conditions: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"init": init or {}}, "status": {"conditions": list(conditions)}}


def test_restore_outcomes_follow_kubedbs_conditions() -> None:
    wait = {"waitForInitialRestore": True}
    assert readings.restore_outcome(database()) == (RestoreOutcome.NONE, None)
    assert readings.restore_outcome(database(wait)) == (RestoreOutcome.WAITING, None)
    assert readings.restore_outcome(database({"archiver": {"recoveryTimestamp": T0}})) == (
        RestoreOutcome.WAITING,
        None,
    )
    started = {"type": "DataRestoreStarted", "status": "True"}
    assert readings.restore_outcome(database(wait, started)) == (RestoreOutcome.RESTORING, None)
    done = {"type": "DataRestored", "status": "True", "reason": "SuccessfullyDataRestored"}
    assert readings.restore_outcome(database(wait, done)) == (RestoreOutcome.RESTORED, None)
    failed = {
        "type": "DataRestored",
        "status": "False",
        "reason": "FailedToRestoreData",
        "message": "Failed to restore data: bad dump",
    }
    assert readings.restore_outcome(database(wait, failed)) == (
        RestoreOutcome.FAILED,
        "Failed to restore data: bad dump",
    )

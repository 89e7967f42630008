"""Restore decisions, pure: the `restore` field's shape, which sources can be restored into
which new database, when status-sync ends a `restore` operation, and what status-sync's view
reads from RestoreSessions and archive Snapshots."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.domain import errors, lifecycle, manifests, restores
from services.domain.backup_readings import ObservedRestore, observe_restore
from services.domain.backups import BackupOrigin, BackupRecord, BackupState
from services.domain.engines import Engine
from services.domain.restores import Source, Window
from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import Changed, Listed
from services.reconcilers.status_sync import backup_view, rules
from tests.reconcilers_support import NOW, cr_for, operation, record, snapshot

BACKUP_ID = uuid.uuid4()
SOURCE = Source(uuid.uuid4(), "orders", Engine.POSTGRES, "16.4", None)
WINDOW = Window(NOW, NOW + dt.timedelta(hours=6))


def backup(**overrides: Any) -> BackupRecord:
    values: dict[str, Any] = {
        "id": BACKUP_ID,
        "project_id": "acme",
        "database_id": SOURCE.id,
        "operation_id": None,
        "origin": BackupOrigin.SCHEDULE,
        "state": BackupState.SUCCEEDED,
        "backup_session": "orders-backup-1",
        "snapshot": "orders-repo-logical-1",
        "size_bytes": 10,
        "error": None,
        "started_at": NOW,
        "completed_at": NOW,
        "snapshot_deleted_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return BackupRecord(**values)


# -- the field ---------------------------------------------------------------------------


def test_a_backup_id_or_a_database_and_a_time_are_the_two_forms() -> None:
    by_backup = restores.parse_restore({"backup_id": str(BACKUP_ID)})
    assert by_backup.backup_id == BACKUP_ID and not by_backup.is_point_in_time
    by_time = restores.parse_restore(
        {"database_id": str(SOURCE.id), "point_in_time": "2026-08-01T03:00:00+02:00"}
    )
    assert by_time.database_id == SOURCE.id
    assert by_time.point_in_time == dt.datetime(2026, 8, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        ([], "restore", errors.INVALID_TYPE),
        ({}, "restore", errors.REQUIRED),
        ({"backup_id": "nope"}, "restore.backup_id", errors.INVALID_TYPE),
        ({"backup_id": 7}, "restore.backup_id", errors.INVALID_TYPE),
        ({"backup_id": str(BACKUP_ID), "database_id": str(SOURCE.id)}, "restore", "invalid_choice"),
        ({"database_id": str(SOURCE.id)}, "restore.point_in_time", errors.REQUIRED),
        (
            {"database_id": str(SOURCE.id), "point_in_time": "2026-08-01T03:00:00"},
            "restore.point_in_time",
            errors.INVALID_TYPE,
        ),
        ({"snapshot": "latest", "backup_id": str(BACKUP_ID)}, "restore.snapshot", "unknown_field"),
    ],
)
def test_a_malformed_restore_names_the_field_and_the_problem(
    value: object, field: str, code: str
) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        restores.parse_restore(value)
    assert caught.value.codes()[field] == code


# -- the source --------------------------------------------------------------------------


def test_a_succeeded_backup_restores_into_the_same_major_at_its_version_or_newer() -> None:
    for version in ("16.4", "16.13"):
        assert (
            restores.refuse_backup(backup(), SOURCE, engine=Engine.POSTGRES, version=version)
            is None
        )


@pytest.mark.parametrize(
    ("engine", "version", "reason"),
    [
        (Engine.MYSQL, "8.4.3", "engine-mismatch"),
        (Engine.POSTGRES, "16.1", "version-incompatible"),
        (Engine.POSTGRES, "17.9", "version-incompatible"),
        (Engine.POSTGRES, "percona-16.12", "version-incompatible"),
    ],
)
def test_another_engine_or_an_incompatible_version_is_refused(
    engine: Engine, version: str, reason: str
) -> None:
    refusal = restores.refuse_backup(backup(), SOURCE, engine=engine, version=version)
    assert refusal is not None and refusal.reason == reason


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": BackupState.FAILED, "error": "restic: locked", "snapshot": None},
        {"state": BackupState.RUNNING, "completed_at": None},
        {"snapshot_deleted_at": NOW},
    ],
)
def test_only_a_succeeded_backup_whose_snapshot_exists_is_restorable(
    overrides: dict[str, Any],
) -> None:
    refusal = restores.refuse_backup(
        backup(**overrides), SOURCE, engine=Engine.POSTGRES, version="16.4"
    )
    assert refusal is not None and refusal.reason == "backup-not-restorable"


def test_a_point_in_time_must_lie_within_the_window() -> None:
    archived = Source(SOURCE.id, "orders", Engine.POSTGRES, "16.4", WINDOW)
    for moment in (WINDOW.earliest, WINDOW.latest, NOW + dt.timedelta(hours=1)):
        assert (
            restores.refuse_point_in_time(archived, moment, engine=Engine.POSTGRES, version="16.4")
            is None
        )
    for moment in (NOW - dt.timedelta(seconds=1), WINDOW.latest + dt.timedelta(seconds=1)):
        refusal = restores.refuse_point_in_time(
            archived, moment, engine=Engine.POSTGRES, version="16.4"
        )
        assert refusal is not None and refusal.reason == "outside-window"
        assert "2026-08-01T00:00:00Z to 2026-08-01T06:00:00Z" in refusal.detail


def test_point_in_time_needs_an_archive_and_an_engine_that_has_one() -> None:
    unarchived = restores.refuse_point_in_time(SOURCE, NOW, engine=Engine.POSTGRES, version="16.4")
    assert unarchived is not None and unarchived.reason == "no-point-in-time-recovery"
    cache = Source(uuid.uuid4(), "cache", Engine.REDIS, "7.4.1", WINDOW)
    redis = restores.refuse_point_in_time(cache, NOW, engine=Engine.REDIS, version="7.4.1")
    assert redis is not None and redis.reason == "no-point-in-time-recovery"
    assert "redis has no point-in-time recovery" in redis.detail


# -- status-sync: when a restore ends ----------------------------------------------------


def _restored_cr(phase: str, restored: str | None, message: str = "") -> dict[str, Any]:
    snap = snapshot(record(name="copy"), open_operations=("restore",), last_create=None)
    cr = cr_for(snap, phase=phase)
    if restored is not None:
        cr["status"]["conditions"].append(
            {"type": "DataRestored", "status": restored, "reason": "r", "message": message}
        )
    return cr


def _decide(cr: dict[str, Any] | None, session: ObservedRestore | None) -> rules.Completion | None:
    op = operation(uuid.uuid4(), "restore", params={"restore": {"source_name": "orders"}})
    view = rules.OpsView(
        database=cr_readings.observe_database(cr) if cr is not None else None,
        ops_request=None,
        ops_request_name=None,
        synced=True,
        successful_for=None,
        missing_for=None,
        restore=session,
    )
    return rules.decide_completion(op, view)


def test_a_restore_succeeds_once_the_restored_database_is_ready() -> None:
    session = ObservedRestore("copy-restore-1", "Succeeded", None)
    assert _decide(_restored_cr("DataRestoring", None), session) is None
    assert _decide(None, ObservedRestore("copy-restore-1", "Running", None)) is None
    done = _decide(_restored_cr("Ready", "True"), session)
    assert isinstance(done, rules.Succeed) and "restored from orders" in done.why


def test_a_failed_restore_waits_for_its_sessions_reason() -> None:
    running = ObservedRestore("copy-restore-1", "Running", None)
    assert _decide(_restored_cr("NotReady", "False", "Failed to restore"), running) is None


@pytest.mark.parametrize(
    ("cr", "session", "shown"),
    [
        (_restored_cr("NotReady", "False", "restic: no key"), None, "restic: no key"),
        (
            _restored_cr("DataRestoring", None),
            ObservedRestore("copy-restore-1", "Invalid", "Snapshot s1 not found"),
            "Snapshot s1 not found",
        ),
    ],
)
def test_a_restore_fails_with_kubestashs_reason(
    cr: dict[str, Any], session: ObservedRestore | None, shown: str
) -> None:
    failed = _decide(cr, session)
    assert isinstance(failed, rules.Fail)
    assert failed.problem["type"] == "kubestash-restore-failed"
    assert shown in failed.problem["detail"]


def test_a_database_being_restored_is_creating_and_failed_when_the_restore_failed() -> None:
    facts = dict(current="creating", cr_present=True, phase="DataRestoring", in_sync=True)
    assert (
        lifecycle.derive_state(
            lifecycle.Facts(open_operations=("restore",), last_create=None, **facts)
        )
        is lifecycle.State.CREATING
    )
    assert (
        lifecycle.derive_state(lifecycle.Facts(open_operations=(), last_create="failed", **facts))
        is lifecycle.State.FAILED
    )


def test_a_restore_sessions_reason_is_a_components_error_or_a_false_condition() -> None:
    failed = observe_restore(
        {
            "metadata": {"name": "r"},
            "status": {"phase": "Failed", "components": {"dump": {"error": "disk full"}}},
        }
    )
    assert failed.failed and failed.error == "disk full"
    invalid = observe_restore(
        {
            "metadata": {"name": "r"},
            "status": {
                "phase": "Invalid",
                "conditions": [
                    {"type": "ValidationPassed", "status": "False", "message": "no Repository"}
                ],
            },
        }
    )
    assert invalid.failed and invalid.error == "no Repository"
    assert not observe_restore({"metadata": {"name": "r"}, "status": {"phase": "Running"}}).failed


# -- status-sync's view ------------------------------------------------------------------


def _restore_session(op_id: uuid.UUID, phase: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "copy-restore-1",
            "namespace": "dbaas-acme",
            "resourceVersion": "1",
            "labels": {manifests.LABEL_OPERATION_ID: str(op_id)},
        },
        "status": {"phase": phase},
    }


def test_the_view_holds_restore_sessions_by_operation_and_marks_changes() -> None:
    view = backup_view.BackupView()
    op_id = uuid.uuid4()
    plural = "restoresessions"
    view.apply(Listed(plural, (_restore_session(op_id, "Running"),)))
    assert view.restores[op_id].phase == "Running" and view.changed_restores == {op_id}
    view.changed_restores.clear()
    view.apply(Changed(plural, "MODIFIED", _restore_session(op_id, "Succeeded")))
    assert view.restores[op_id].succeeded and view.changed_restores == {op_id}
    view.apply(Changed(plural, "DELETED", _restore_session(op_id, "Succeeded")))
    assert op_id not in view.restores
    view.apply(Changed(plural, "ADDED", {"metadata": {"name": "theirs", "namespace": "x"}}))
    assert view.restores == {}


def _archive_snapshot(name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "dbaas-acme",
            "resourceVersion": "1",
            "labels": {
                "kubestash.com/app-ref-name": "orders",
                "kubestash.com/repo-name": "orders-full",
            },
        },
        "spec": spec,
        "status": status,
    }


def test_the_view_computes_an_archives_window_when_its_snapshots_change() -> None:
    view = backup_view.BackupView()
    full = _archive_snapshot(
        "orders-full-1",
        {"type": "FullBackup"},
        {"phase": "Succeeded", "snapshotTime": "2026-08-01T00:00:00Z"},
    )
    incremental = _archive_snapshot(
        "orders-full-incremental-snapshot",
        {"type": "IncrementalBackup"},
        {"components": {"wal": {"logStats": {"end": "2026-08-01T06:00:00Z"}}}},
    )
    view.apply(Listed("snapshots", (full,)))
    assert view.take_windows() == {("dbaas-acme", "orders"): None}  # no log shipped yet
    view.apply(Changed("snapshots", "ADDED", incremental))
    assert view.take_windows() == {("dbaas-acme", "orders"): WINDOW}
    assert view.take_windows() == {}
    view.apply(Changed("snapshots", "DELETED", full))
    assert view.take_windows() == {("dbaas-acme", "orders"): None}

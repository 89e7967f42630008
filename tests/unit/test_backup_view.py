"""How status-sync attributes a BackupSession that KubeStash's schedule created (no label
of ours) to a database: through its invoker, the BackupConfiguration dbaas labelled."""

from __future__ import annotations

import uuid
from typing import Any

from services.domain import manifests
from services.domain.backup_readings import SessionReading, SnapshotReading, read_snapshot
from services.domain.backups import BackupState
from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import Changed, Listed
from services.reconcilers.status_sync.backup_view import BackupView

NAMESPACE = "dbaas-acme"


def _configuration(database_id: uuid.UUID, name: str = "orders-backup-1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "resourceVersion": "1",
            "labels": {
                manifests.LABEL_DATABASE_ID: str(database_id),
                manifests.LABEL_PROJECT: "acme",
            },
        }
    }


def _scheduled(name: str, invoker: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "2"},
        "spec": {
            "invoker": {
                "apiGroup": "core.kubestash.com",
                "kind": "BackupConfiguration",
                "name": invoker,
            },
            "session": "logical",
        },
        "status": {"phase": phase},
    }


def test_a_scheduled_session_is_attributed_through_its_configuration() -> None:
    database_id = uuid.uuid4()
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    view.apply(
        Changed(
            "backupsessions", "ADDED", _scheduled("orders-backup-1-logical-9", "orders-backup-1")
        )
    )
    (reading,) = view.take_readings()
    assert (reading.project_id, reading.database_id) == ("acme", database_id)
    assert reading.backup_session == "orders-backup-1-logical-9"
    assert reading.observed.state is BackupState.RUNNING


def test_a_session_seen_before_its_configuration_is_read_once_the_configuration_arrives() -> None:
    database_id = uuid.uuid4()
    view = BackupView()
    view.apply(
        Listed("backupsessions", (_scheduled("orders-backup-1-logical-9", "orders-backup-1"),))
    )
    assert view.take_readings() == []
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    (reading,) = view.take_readings()
    assert reading.database_id == database_id


def test_a_session_of_a_configuration_that_is_not_ours_is_ignored() -> None:
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(uuid.uuid4()),)))
    view.apply(Changed("backupsessions", "ADDED", _scheduled("theirs-logical-1", "theirs")))
    assert view.take_readings() == []


def _snapshot(name: str, session: str, phase: str, error: str | None = None) -> dict[str, Any]:
    component: dict[str, Any] = {"phase": phase}
    if error:
        component["error"] = error
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "3"},
        "spec": {"backupSession": session},
        "status": {"phase": phase, "components": {"dump": component}},
    }


def test_a_failed_session_waits_for_its_running_snapshot_to_say_why() -> None:
    database_id = uuid.uuid4()
    session_name = "orders-backup-1-logical-9"
    failed = _scheduled(session_name, "orders-backup-1", phase="Failed")
    failed["status"]["snapshots"] = [{"name": "snap-1", "phase": "Failed"}]
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    view.apply(Changed("snapshots", "ADDED", _snapshot("snap-1", session_name, "Running")))
    view.apply(Changed("backupsessions", "MODIFIED", failed))
    assert view.take_readings() == []  # its Snapshot's failure is on its way
    reason = "restic: repository is locked"
    view.apply(
        Changed("snapshots", "MODIFIED", _snapshot("snap-1", session_name, "Failed", reason))
    )
    (reading,) = view.take_readings()
    assert reading.observed.state is BackupState.FAILED
    assert reading.observed.error is not None and reason in reading.observed.error


def test_a_failed_session_whose_snapshot_is_gone_is_read_at_once() -> None:
    database_id = uuid.uuid4()
    session_name = "orders-backup-1-logical-9"
    failed = _scheduled(session_name, "orders-backup-1", phase="Failed")
    failed["status"]["snapshots"] = [{"name": "snap-1", "phase": "Failed"}]
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    view.apply(Changed("backupsessions", "MODIFIED", failed))  # retention deleted snap-1
    (reading,) = view.take_readings()
    assert reading.observed.state is BackupState.FAILED


def _held_snapshot(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "3"},
        "spec": {"backupSession": "orders-backup-1-logical-9"},
        "status": {"phase": "Succeeded"},
    }


def test_removed_snapshots_are_named_once_and_a_full_list_names_every_held_one() -> None:
    view = BackupView()
    view.apply(Listed("snapshots", (_held_snapshot("snap-1"), _held_snapshot("snap-2"))))
    gone, held = view.take_gone_snapshots()
    assert (gone, held) == (set(), frozenset({"snap-1", "snap-2"}))
    view.apply(Changed("snapshots", "DELETED", _held_snapshot("snap-1")))  # retention
    assert view.take_gone_snapshots() == ({"snap-1"}, None)
    assert view.take_gone_snapshots() == (set(), None)
    # A relist (a restart, a 410) without snap-2: gone while no watch ran.
    view.apply(Listed("snapshots", (_held_snapshot("snap-3"),)))
    assert view.take_gone_snapshots() == ({"snap-2"}, frozenset({"snap-3"}))


def test_the_view_holds_readings_of_what_the_listers_compact() -> None:
    session = _scheduled("orders-backup-1-logical-9", "orders-backup-1", phase="Succeeded")
    session["status"]["snapshots"] = [{"name": "snap-1", "phase": "Succeeded"}]
    snapshot = _snapshot("snap-1", "orders-backup-1-logical-9", "Succeeded")
    snapshot["metadata"]["managedFields"] = [{"manager": "kubestash", "fieldsV1": {"f:x": {}}}]
    compacted = [
        cr_readings.compact({"kind": kind, **obj})
        for kind, obj in (("BackupSession", session), ("Snapshot", snapshot))
    ]
    assert isinstance(compacted[0], SessionReading)
    assert isinstance(compacted[1], SnapshotReading)
    assert compacted[1] == read_snapshot(snapshot)  # no managedFields, no spec, no status
    database_id = uuid.uuid4()
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    view.apply(Listed("snapshots", (compacted[1],)))
    view.apply(Listed("backupsessions", (compacted[0],)))
    (reading,) = view.take_readings()
    assert reading.observed.state is BackupState.SUCCEEDED
    assert reading.observed.snapshot == "snap-1"


def test_a_relisted_snapshot_whose_reading_did_not_change_is_not_read_again() -> None:
    database_id = uuid.uuid4()
    session = _scheduled("orders-backup-1-logical-9", "orders-backup-1", phase="Succeeded")
    session["status"]["snapshots"] = [{"name": "snap-1", "phase": "Succeeded"}]
    view = BackupView()
    view.apply(Listed("backupconfigurations", (_configuration(database_id),)))
    view.apply(Listed("backupsessions", (session,)))
    view.apply(
        Listed("snapshots", (_snapshot("snap-1", "orders-backup-1-logical-9", "Succeeded"),))
    )
    assert len(view.take_readings()) == 1
    again = _snapshot("snap-1", "orders-backup-1-logical-9", "Succeeded")
    again["metadata"]["resourceVersion"] = "99"  # a write that changed nothing it reads
    view.apply(Listed("snapshots", (again,)))
    assert view.take_readings() == []
    failed = _snapshot("snap-1", "orders-backup-1-logical-9", "Succeeded")
    failed["status"]["phase"] = "Failed"
    view.apply(Listed("snapshots", (failed,)))
    (reading,) = view.take_readings()
    assert reading.observed.state is BackupState.FAILED

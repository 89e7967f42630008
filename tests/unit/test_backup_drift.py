"""The drift decision for scheduled backups (`backup_compare`): a database's
BackupConfiguration against its `backup` policy, purely."""

from __future__ import annotations

import uuid
from typing import Any

from services.domain import backup_manifests, manifests
from services.domain.backups import BackupPolicy
from services.domain.engines import Engine
from services.domain.planning import OperationType
from services.domain.snapshots import DatabaseSnapshot
from services.domain.specs import DatabaseSpec
from services.reconcilers.drift import backup_compare
from tests.reconcilers_support import record, snapshot

STORAGE = "dbaas-backup/local"
HOURLY = BackupPolicy("0 * * * *")


def _snapshot(policy: BackupPolicy | None, **overrides: Any) -> DatabaseSnapshot:
    rec = record(backup=None if policy is None else policy.public())
    return snapshot(rec, **overrides)


def _configuration(
    snap: DatabaseSnapshot, policy: BackupPolicy | None, *, storage: str = STORAGE
) -> dict[str, Any]:
    rec = snap.record
    names = backup_manifests.BackupNames(rec.name, rec.id, snap.namespace, Engine(rec.engine))
    spec = DatabaseSpec.from_columns({"name": rec.name, "engine": rec.engine, **rec.desired()})
    return backup_manifests.render_backup_configuration(
        spec,
        policy,
        names,
        storage=backup_manifests.parse_object_ref(storage),
        project_id=rec.project_id,
    )


def _compare(
    snap: DatabaseSnapshot, *configurations: dict[str, Any], storage: str | None = STORAGE
) -> list[Any]:
    readings = [backup_compare.read_configuration(c) for c in configurations]
    return backup_compare.compare_backups(
        [snap], [r for r in readings if r is not None], storage=storage
    )


def test_a_configuration_as_rendered_is_no_drift() -> None:
    for policy in (HOURLY, None):
        snap = _snapshot(policy)
        assert _compare(snap, _configuration(snap, policy)) == []
    assert _compare(_snapshot(None)) == []  # no policy, no configuration: as it should be


def test_an_edited_schedule_is_corrected_with_the_recorded_policy() -> None:
    snap = _snapshot(HOURLY)
    edited = _configuration(snap, BackupPolicy("30 4 * * *"), storage="other/place")
    (drift,) = _compare(snap, edited)
    assert [(f.field, f.desired, f.observed) for f in drift.fields] == [
        ("backup.schedule", "0 * * * *", "30 4 * * *")
    ]
    (correction,) = drift.corrections
    assert correction.type is OperationType.BACKUP_POLICY
    # The storage the configuration already uses, so its Repository stays where it is.
    assert correction.params == {"backup": HOURLY.public(), "storage": "other/place"}
    assert correction.previous == {"backup": HOURLY.public()}


def test_a_deleted_configuration_is_missing_and_needs_the_setting_to_be_corrected() -> None:
    snap = _snapshot(HOURLY)
    (drift,) = _compare(snap)
    assert drift.describe() == "orders backup.configuration missing→present"
    assert drift.corrections[0].params["storage"] == STORAGE
    (reported_only,) = _compare(snap, storage=None)
    assert reported_only.corrections == ()


def test_a_suspended_schedule_and_one_running_without_a_policy_both_drift() -> None:
    snap = _snapshot(HOURLY)
    (drift,) = _compare(snap, _configuration(snap, None))
    fields = {f.field for f in drift.fields}
    assert "backup.suspended" in fields
    off = _snapshot(None)
    (running,) = _compare(off, _configuration(off, HOURLY))
    assert [(f.field, f.desired, f.observed) for f in running.fields] == [
        ("backup.suspended", True, False)
    ]
    assert running.corrections[0].params["backup"] is None


def test_databases_in_flight_or_not_ours_are_left_alone() -> None:
    busy = _snapshot(HOURLY, open_operations=("backup_policy",))
    assert _compare(busy) == []
    uncreated = _snapshot(HOURLY, last_create="running")
    assert _compare(uncreated) == []
    snap = _snapshot(HOURLY)
    foreign = _configuration(snap, None)
    foreign["metadata"]["labels"][manifests.LABEL_DATABASE_ID] = str(uuid.uuid4())
    assert _compare(snap, foreign) == []


def test_the_same_drift_has_the_same_fingerprint() -> None:
    snap = _snapshot(HOURLY)
    first, second = _compare(snap), _compare(snap)
    assert first[0].fingerprint == second[0].fingerprint

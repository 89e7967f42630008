"""Scheduled backups end to end, against the simulated KubeStash with its clock sped up:
the `backup` field set by PATCH (and at creation) is recorded, carried out by a
`backup_policy` operation (RetentionPolicy, BackupConfiguration with the schedule), the
BackupSessions KubeStash's schedule creates appear as `schedule` backups, null suspends
the schedule and keeps every backup; bad policies are problem+json; a BackupConfiguration
edited or deleted behind dbaas's back is corrected or reported by the drift policy.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from services.clients.kube import KubeError
from services.domain import backup_manifests
from services.domain.backups import BackupOrigin
from services.domain.engines import Engine
from services.domain.resources import (
    BACKUP_CONFIGURATION,
    BACKUP_SESSION,
    RETENTION_POLICY,
    SNAPSHOT,
    archiver_resource,
)
from services.store import backups, events, operations
from tests.api_harness import assert_problem
from tests.integration import test_backups_flow as backups_flow
from tests.integration.reconciler_world import NAMESPACE, PROJECT
from tests.integration.test_backups_flow import Setup

setup = backups_flow.setup  # the same fixture: an API, a world and a BackupStorage

ARCHIVER = archiver_resource("PostgresArchiver", "postgresarchivers")
HOURLY = {"schedule": "0 * * * *", "retention": {"keep_last": 5}}
CLOCK_SPEED = 3600  # an hour of KubeStash's clock per wall second: one scheduled run each


def _names(setup: Setup, database_id: uuid.UUID) -> backup_manifests.BackupNames:
    record = setup.world.database(database_id)
    return backup_manifests.BackupNames(record.name, record.id, NAMESPACE, record.engine)  # type: ignore[arg-type]


def _patch(setup: Setup, database_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
    with setup.client() as client:
        etag = client.get(f"/v1/databases/{database_id}").headers["etag"]
        response = client.patch(
            f"/v1/databases/{database_id}",
            json=body,
            headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
        )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def _listed(setup: Setup, database_id: uuid.UUID, **params: str) -> list[dict[str, Any]]:
    with setup.client() as client:
        response = client.get(f"/v1/databases/{database_id}/backups", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_schedule_makes_scheduled_backups_listed_and_null_pauses_it(setup: Setup) -> None:
    world = setup.world
    db = world.ready("nightly")
    accepted = _patch(setup, db.id, {"backup": HOURLY})
    assert accepted["backup"] == {
        "schedule": "0 * * * *",
        "retention": {"keep_last": 5, "max_age": "30d"},
        "pitr": False,
    }
    (op,) = accepted["operations"]
    assert op["type"] == "backup_policy" and op["state"] == "pending"
    assert "succeeded" in world.work(db.id)
    names = _names(setup, db.id)
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, names.backup_configuration)
    (session,) = bc["spec"]["sessions"]
    assert session["scheduler"]["schedule"] == "0 * * * *"
    assert not session["scheduler"].get("suspend")
    retention = world.cluster.get(RETENTION_POLICY, NAMESPACE, names.retention_policy)
    assert retention["spec"]["successfulSnapshots"] == {"last": 5}
    # The change is done once applied: the database settles back to ready, caught up.
    settled = world.cycle_until(
        lambda: (
            (r := world.database(db.id)).state == "ready"
            and r.observed_generation == r.generation
            and r
        )
    )
    assert settled.generation == db.generation + 1

    world.sim.set_faults(kubestash={"clock_speed": CLOCK_SPEED})
    try:
        scheduled = world.cycle_until(
            lambda: [
                b for b in _listed(setup, db.id, origin="schedule") if b["state"] == "succeeded"
            ][1:],
            timeout=30,
        )
    finally:
        world.sim.set_faults(kubestash={"clock_speed": 1})
    assert all(b["database_id"] == str(db.id) and b["snapshot"] for b in scheduled)
    assert all(b["size_bytes"] and b["size_bytes"] > 0 for b in scheduled)
    # Replayed observations (a resync, a restarted status-sync) never add a row.
    world.sync.on_promoted()
    world.cycle_until(lambda: True)
    with world.connect() as conn:
        rows = backups.page(conn, PROJECT, database_id=db.id, limit=500)
    sessions = [row.backup_session for row in rows]
    assert len(sessions) == len(set(sessions))
    assert all(row.origin is BackupOrigin.SCHEDULE for row in rows)

    paused = _patch(setup, db.id, {"backup": None})
    assert paused["backup"] is None
    assert [o["type"] for o in paused["operations"]] == ["backup_policy"]
    assert "succeeded" in world.work(db.id)
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, names.backup_configuration)
    assert bc["spec"]["sessions"][0]["scheduler"]["suspend"] is True
    still = {b["id"] for b in _listed(setup, db.id)}
    assert {b["id"] for b in scheduled} <= still
    with setup.client() as client:
        shown = client.get(f"/v1/databases/{db.id}").json()
    assert shown["backup"] is None
    with world.connect() as conn:
        said = [e.message for e in events.for_database(conn, db.id, limit=500)]
    assert "backup None→schedule '0 * * * *'" in said
    assert "backup schedule '0 * * * *'→None" in said


def test_a_policy_given_at_creation_runs_after_the_create(setup: Setup) -> None:
    with setup.client() as client:
        response = client.post(
            "/v1/databases",
            json={
                "name": "born",
                "engine": "mysql",
                "version": "8.4.3",
                "storage": "10Gi",
                "backup": {"schedule": "@daily"},
            },
            headers={"Idempotency-Key": "born-with-backups"},
        )
    assert response.status_code == 202, response.text
    body = response.json()
    assert [o["type"] for o in body["operations"]] == ["create", "backup_policy"]
    assert body["backup"]["schedule"] == "@daily"


def test_bad_policies_are_refused_with_every_problem(setup: Setup) -> None:
    db = setup.world.create("refused", engine="redis", version="7.4.1", replicas=1)
    with setup.client() as client:
        created = client.post(
            "/v1/databases",
            json={
                "name": "bad",
                "engine": "redis",
                "version": "7.4.1",
                "storage": "10Gi",
                "backup": {
                    "schedule": "61 * * * *",
                    "retention": {"keep_last": 0, "max_age": "forever"},
                    "pitr": True,
                },
            },
        )
        patched = client.patch(
            f"/v1/databases/{db.id}",
            json={"backup": {"schedule": "@sometimes"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        shown = client.get(f"/v1/databases/{db.id}").json()
    problem = assert_problem(created, 422, "validation-failed")
    assert {e["field"] for e in problem["errors"]} == {
        "backup.schedule",
        "backup.retention.keep_last",
        "backup.retention.max_age",
        "backup.pitr",
    }
    problem = assert_problem(patched, 422, "validation-failed")
    assert [e["field"] for e in problem["errors"]] == ["backup.schedule"]
    assert shown["backup"] is None and shown["generation"] == db.generation


def _drift_pass(setup: Setup) -> str:
    setup.world.drift.backup_storage = backups_flow.STORAGE
    outcome: str = setup.world.drift.run_cycle()
    return outcome


def _gone(setup: Setup, name: str) -> bool:
    try:
        setup.world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    except KubeError as error:
        return error.not_found
    return False


def test_drift_corrects_an_edited_or_deleted_configuration(setup: Setup) -> None:
    world = setup.world
    db = world.ready("guarded")
    _patch(setup, db.id, {"backup": HOURLY})
    assert "succeeded" in world.work(db.id)
    name = _names(setup, db.id).backup_configuration
    assert "0 drifted" in _drift_pass(setup)

    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    sessions = bc["spec"]["sessions"]
    sessions[0]["scheduler"] = sessions[0]["scheduler"] | {"schedule": "30 4 * * *"}
    world.cluster.merge_patch(
        BACKUP_CONFIGURATION, NAMESPACE, name, {"spec": {"sessions": sessions}}
    )
    outcome = _drift_pass(setup)
    assert "guarded backup.schedule 30 4 * * *→0 * * * *" in outcome, outcome
    with world.connect() as conn:
        (correction,) = operations.open_for_database(conn, db.id)
    assert (correction.type, correction.origin) == ("backup_policy", "drift")
    assert "succeeded" in world.work(db.id)
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    assert bc["spec"]["sessions"][0]["scheduler"]["schedule"] == "0 * * * *"

    world.cluster.delete(BACKUP_CONFIGURATION, NAMESPACE, name)
    world.cycle_until(lambda: _gone(setup, name))
    outcome = _drift_pass(setup)
    assert "guarded backup.configuration missing→present" in outcome, outcome
    assert "succeeded" in world.work(db.id)
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    assert bc["spec"]["sessions"][0]["scheduler"]["schedule"] == "0 * * * *"
    assert "0 drifted" in _drift_pass(setup)


def test_drift_only_reports_a_suspended_schedule_under_the_report_policy(setup: Setup) -> None:
    world = setup.world
    db = world.ready("watched", drift_policy="report")
    _patch(setup, db.id, {"backup": HOURLY})
    assert "succeeded" in world.work(db.id)
    name = _names(setup, db.id).backup_configuration
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    sessions = bc["spec"]["sessions"]
    sessions[0]["scheduler"] = sessions[0]["scheduler"] | {"suspend": True}
    world.cluster.merge_patch(
        BACKUP_CONFIGURATION, NAMESPACE, name, {"spec": {"sessions": sessions}}
    )
    first, second = _drift_pass(setup), _drift_pass(setup)
    assert "watched backup.suspended True→False" in first and "1 reported" in first, first
    assert "reported" not in second  # the same drift is reported once
    with world.connect() as conn:
        assert operations.open_for_database(conn, db.id) == []
        found = events.for_database(conn, db.id)
    assert [e.kind for e in found].count("drift.detected") == 1
    bc = world.cluster.get(BACKUP_CONFIGURATION, NAMESPACE, name)
    assert bc["spec"]["sessions"][0]["scheduler"]["suspend"] is True


def test_deleting_a_database_keeps_its_backups_listable_and_stops_its_schedule(
    setup: Setup,
) -> None:
    world = setup.world
    db = world.ready("retired")
    _patch(setup, db.id, {"backup": HOURLY})
    assert "succeeded" in world.work(db.id)
    # KubeStash backs up as soon as the configuration is Ready (KUBESTASH-API.md §5.4).
    (kept,) = world.cycle_until(
        lambda: [b for b in _listed(setup, db.id) if b["state"] == "succeeded"][:1], timeout=30
    )
    with setup.client() as client:
        response = client.delete(f"/v1/databases/{db.id}")
    assert response.status_code == 202, response.text
    (delete_op,) = response.json()["operations"]
    world.work(db.id)
    world.cycle_until(lambda: world.settled(uuid.UUID(delete_op["id"])), timeout=30)
    name = _names(setup, db.id).backup_configuration
    world.cycle_until(lambda: _gone(setup, name))
    with setup.client() as client:
        gone = client.get(f"/v1/databases/{db.id}")
        listed = client.get("/v1/backups", params={"database_id": str(db.id)})
        one = client.get(f"/v1/backups/{kept['id']}")
    assert gone.status_code == 404
    assert kept["id"] in [b["id"] for b in listed.json()["items"]]
    assert one.status_code == 200 and one.json()["snapshot"] == kept["snapshot"]
    snapshot = world.cluster.get(SNAPSHOT, NAMESPACE, kept["snapshot"])
    assert snapshot["status"]["phase"] == "Succeeded"


def test_a_backup_whose_snapshot_retention_deleted_leaves_the_listing(setup: Setup) -> None:
    world = setup.world
    db = world.ready("pruned")
    _patch(setup, db.id, {"backup": {"schedule": "0 * * * *", "retention": {"keep_last": 1}}})
    assert "succeeded" in world.work(db.id)
    (initial,) = world.cycle_until(
        lambda: [b for b in _listed(setup, db.id) if b["state"] == "succeeded"][:1], timeout=30
    )
    with setup.client() as client:
        response = client.post(f"/v1/databases/{db.id}/backups")
    assert response.status_code == 202, response.text
    taken = response.json()
    world.work(db.id)
    # Keeping the last one, retention deletes the initial backup's Snapshot.
    world.cycle_until(lambda: [b["id"] for b in _listed(setup, db.id)] == [taken["id"]])
    with pytest.raises(KubeError) as gone:
        world.cluster.get(SNAPSHOT, NAMESPACE, initial["snapshot"])
    assert gone.value.not_found
    body = {"name": "too-late", "engine": "postgres", "version": db.version, "storage": "10Gi"}
    with setup.client() as client:
        refused = client.post(
            "/v1/databases", json={**body, "restore": {"backup_id": initial["id"]}}
        )
    problem = assert_problem(refused, 422, "restore-not-possible")
    assert problem["reason"] == "backup-not-restorable"
    assert initial["snapshot"] in problem["detail"]


def test_a_deleted_databases_backups_expire_after_the_retention(setup: Setup) -> None:
    world = setup.world
    world.sync.config = dataclasses.replace(world.sync.config, deleted_backup_retention_seconds=0)
    db = world.ready("expiring")
    with setup.client() as client:
        taken = client.post(f"/v1/databases/{db.id}/backups").json()
    world.work(db.id)
    (done,) = world.cycle_until(
        lambda: [
            b for b in _listed(setup, db.id) if b["id"] == taken["id"] and b["state"] == "succeeded"
        ]
    )
    assert done["expires_at"] is None  # the database lives: kept
    with setup.client() as client:
        response = client.delete(f"/v1/databases/{db.id}")
    assert response.status_code == 202, response.text
    (delete_op,) = response.json()["operations"]
    world.work(db.id)
    world.cycle_until(lambda: world.settled(uuid.UUID(delete_op["id"])), timeout=30)

    def listed() -> list[dict[str, Any]]:
        with setup.client() as client:
            items: list[dict[str, Any]] = client.get(
                "/v1/backups", params={"database_id": str(db.id)}
            ).json()["items"]
        return items

    world.cycle_until(lambda: not listed(), timeout=30)
    with pytest.raises(KubeError) as gone:
        world.cluster.get(SNAPSHOT, NAMESPACE, done["snapshot"])
    assert gone.value.not_found
    with setup.client() as client:
        expired = client.get(f"/v1/backups/{taken['id']}").json()
    assert expired["expires_at"] is not None


def test_pitr_creates_the_archiver_and_points_the_database_at_it(setup: Setup) -> None:
    world = setup.world
    db = world.ready("archived")
    _patch(setup, db.id, {"backup": {"schedule": "@daily", "pitr": True}})
    assert "succeeded" in world.work(db.id)
    names = _names(setup, db.id)
    archiver = world.cluster.get(ARCHIVER, NAMESPACE, names.archiver)
    assert archiver["spec"]["fullBackup"]["scheduler"]["schedule"] == "@daily"
    ref = world.cr("archived")["spec"]["archiver"]["ref"]
    assert ref == {"name": names.archiver, "namespace": NAMESPACE}

    _patch(setup, db.id, {"backup": {"pitr": False}})  # merged: the schedule stays
    assert "succeeded" in world.work(db.id)
    assert "archiver" not in world.cr("archived")["spec"]
    with pytest.raises(KubeError) as gone:
        world.cluster.get(ARCHIVER, NAMESPACE, names.archiver)
    assert gone.value.not_found
    assert world.database(db.id).backup == {
        "schedule": "@daily",
        "retention": {"keep_last": 7, "max_age": "30d"},
        "pitr": False,
    }


def test_a_pending_policy_change_can_be_cancelled_and_rolls_back(setup: Setup) -> None:
    db = setup.world.create("undecided")  # its create is ahead: the policy change waits
    accepted = _patch(setup, db.id, {"backup": HOURLY})
    (op,) = accepted["operations"]
    with setup.client() as client:
        cancelled = client.post(f"/v1/operations/{op['id']}/cancel")
        shown = client.get(f"/v1/databases/{db.id}").json()
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert shown["backup"] is None


def test_a_session_labelled_for_a_database_we_do_not_have_is_ignored(setup: Setup) -> None:
    world = setup.world
    stranger = uuid.uuid4()  # another control plane's database, say
    names = backup_manifests.BackupNames("stranger", stranger, NAMESPACE, Engine.POSTGRES)
    session = backup_manifests.render_backup_session(
        names, operation_id=uuid.uuid4(), project_id=PROJECT
    )
    db = world.ready("neighbour")
    world.cluster.create(BACKUP_SESSION, NAMESPACE, session)
    _patch(setup, db.id, {"backup": HOURLY})
    assert "succeeded" in world.work(db.id)
    # The neighbour's first backup is recorded in the same batches as the stranger's session.
    world.cycle_until(lambda: _listed(setup, db.id, origin="schedule"), timeout=30)
    with world.connect() as conn:
        assert backups.page(conn, PROJECT, database_id=stranger) == []

"""On-demand backups end to end: the API records them, the in-process worker applies what
KubeStash needs and the BackupSession, status-sync observes the BackupSession and Snapshot
(list+watch) and completes the backup and its operation. Against the simulated KubeStash.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import devrun
from services.domain.resources import Resource
from services.reconcilers.status_sync.loop import SyncConfig
from services.store import backups
from services.worker import jobs
from tests.api_harness import (
    LiveApi,
    api_settings,
    assert_problem,
    running_api,
)
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_world import NAMESPACE, PROJECT, World

SYNC = SyncConfig(
    pending_redispatch_seconds=3600,
    opsrequest_retention_seconds=3600,
    watch_timeout_seconds=1,
    poll_seconds=0.05,
    sync_timeout_seconds=10,
    sweep_every_seconds=0,
    cleanup_every_seconds=0,
    watch_backups=True,
)
STORAGE = "/".join(devrun.DEV_BACKUP_STORAGE)
BACKUP_STORAGES = Resource("storage.kubestash.com", "v1alpha1", "backupstorages", "BackupStorage")


@dataclasses.dataclass
class Setup:
    world: World
    api: LiveApi
    key: str  # admin of the world's project

    def client(self, key: str | None = None) -> httpx.Client:
        return self.api.client(key or self.key)


@pytest.fixture
def setup(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Setup]:
    world = World(database_url, redis_url, sim, SYNC)
    # The worker's real backoff: it waits (as a transient error) for the BackupConfiguration.
    world.worker = dataclasses.replace(world.worker, sleep=time.sleep)
    world.sync.on_promoted()
    sim.create_namespace(devrun.DEV_BACKUP_STORAGE[0])
    world.cluster.create(
        BACKUP_STORAGES, devrun.DEV_BACKUP_STORAGE[0], devrun.local_backup_storage()
    )
    settings = dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path),
        kubeconfig=str(sim.kubeconfig),
        backup_storage=STORAGE,
    )
    try:
        with running_api(settings) as api:
            yield Setup(world, api, api.key(role="admin", project=PROJECT))
    finally:
        world.close()


def _take(setup: Setup, database_id: uuid.UUID) -> dict[str, Any]:
    with setup.client() as client:
        response = client.post(f"/v1/databases/{database_id}/backups")
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/backups/{body['id']}"
    assert body["state"] == "pending" and body["origin"] == "manual"
    assert body["operation"]["type"] == "backup"
    return body


def _run_backup(setup: Setup, database_id: uuid.UUID) -> None:
    """Run the worker until it handed the backup over (it releases the operation while the
    new BackupConfiguration is not Ready or runs its first backup, as KubeStash needs)."""
    for _ in range(6):
        outcome = setup.world.work(database_id)
        if "waiting" in outcome:
            return
        assert "released" in outcome, outcome
        setup.world.cycle_until(lambda: True)  # time passes; the watch feed is drained
    raise AssertionError(f"the backup was never handed over: {setup.world.outcomes[-3:]}")


def _backup(setup: Setup, backup_id: str) -> dict[str, Any]:
    with setup.client() as client:
        response = client.get(f"/v1/backups/{backup_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _finished(setup: Setup, backup_id: str, operation_id: str) -> dict[str, Any] | None:
    op = setup.world.settled(uuid.UUID(operation_id))
    if op is None:
        return None
    backup = _backup(setup, backup_id)
    return backup if backup["state"] in ("succeeded", "failed") else None


def test_an_on_demand_backup_succeeds_with_its_snapshot_and_size(setup: Setup) -> None:
    db = setup.world.ready("orders")
    taken = _take(setup, db.id)
    _run_backup(setup, db.id)
    done = setup.world.cycle_until(
        lambda: _finished(setup, taken["id"], taken["operation"]["id"]), timeout=30
    )
    assert done["state"] == "succeeded", done
    assert done["snapshot"] and done["size_bytes"] and done["size_bytes"] > 0
    assert done["completed_at"] is not None and done["error"] is None
    op = setup.world.operation(uuid.UUID(taken["operation"]["id"]))
    assert op.state == "succeeded" and op.k8s_kind == "BackupSession"
    snapshot = setup.world.cluster.get(
        Resource("storage.kubestash.com", "v1alpha1", "snapshots", "Snapshot"),
        NAMESPACE,
        done["snapshot"],
    )
    assert snapshot["status"]["phase"] == "Succeeded"
    assert snapshot["spec"]["backupSession"] == op.k8s_name
    # Replaying the worker's job (a duplicate or re-dispatched job) creates nothing twice.
    assert "not claimable" in jobs.execute(setup.world.worker, str(op.id))


def test_a_failing_backup_fails_with_kubestashs_reason(setup: Setup) -> None:
    db = setup.world.ready("ledger")
    reason = "restic: repository is locked"
    setup.world.sim.set_faults(
        kubestash={
            # every backup of it, KubeStash's first one (when the BackupConfiguration
            # becomes Ready) included
            "backups": [
                {"mode": "fail", "reason": reason, "database": f"{NAMESPACE}/ledger", "count": 9}
            ]
        }
    )
    taken = _take(setup, db.id)
    _run_backup(setup, db.id)
    done = setup.world.cycle_until(
        lambda: _finished(setup, taken["id"], taken["operation"]["id"]), timeout=30
    )
    assert done["state"] == "failed"
    assert reason in done["error"]
    op = setup.world.operation(uuid.UUID(taken["operation"]["id"]))
    assert op.state == "failed"
    assert op.error is not None and reason in op.error["detail"]


def test_a_pending_backup_can_be_cancelled_and_is_then_failed(setup: Setup) -> None:
    db = setup.world.create("queued")  # its create operation is ahead: the backup waits
    taken = _take(setup, db.id)
    with setup.client() as client:
        cancelled = client.post(f"/v1/operations/{taken['operation']['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    backup = _backup(setup, taken["id"])
    assert backup["state"] == "failed" and "cancelled" in backup["error"]


def test_backups_list_newest_first_with_cursor_pagination(setup: Setup) -> None:
    db = setup.world.create("paged")
    taken = [_take(setup, db.id)["id"] for _ in range(3)]
    with setup.client() as client:
        first = client.get(f"/v1/databases/{db.id}/backups", params={"limit": 2}).json()
        second = client.get(
            f"/v1/databases/{db.id}/backups", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        by_state = client.get("/v1/backups", params={"database_id": str(db.id), "state": "pending"})
        other_state = client.get(
            "/v1/backups", params={"database_id": str(db.id), "state": "failed"}
        )
        bad = client.get("/v1/backups", params={"state": "lost"})
    listed = [b["id"] for b in first["items"] + second["items"]]
    assert listed == list(reversed(taken))
    assert second["next_cursor"] is None
    assert [b["id"] for b in by_state.json()["items"]] == list(reversed(taken))
    assert other_state.json()["items"] == []
    assert_problem(bad, 400, "invalid-query")


def test_a_viewer_may_list_but_not_take_a_backup(setup: Setup) -> None:
    db = setup.world.create("viewed")
    viewer = setup.api.key(role="viewer", project=PROJECT)
    with setup.client(viewer) as client:
        refused = client.post(f"/v1/databases/{db.id}/backups")
        listed = client.get(f"/v1/databases/{db.id}/backups")
    assert_problem(refused, 403, "forbidden")
    assert listed.status_code == 200 and listed.json()["items"] == []
    with setup.world.connect() as conn:
        assert backups.page(conn, PROJECT, database_id=db.id) == []


def test_without_a_backup_storage_a_backup_is_a_clear_problem(
    database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path), kubeconfig=str(sim.kubeconfig)
    )
    with running_api(settings) as api, api.client(api.key(role="operator")) as client:
        response = client.post(f"/v1/databases/{uuid.uuid4()}/backups")
        listed = client.get("/v1/backups")
    problem = assert_problem(response, 503, "backups-not-configured")
    assert "DBAAS_BACKUP_STORAGE" in problem["detail"]
    assert listed.status_code == 200 and listed.json()["items"] == []

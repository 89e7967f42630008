"""Restore into a new database end to end: a backup taken through the API, then
`POST /v1/databases` with `restore`; the in-process worker creates the database CR that waits
for its data and the RestoreSession, status-sync watches both (list+watch) and ends the
`restore` operation; the database is `ready` only once KubeStash restored it. Against the
simulated KubeStash and KubeDB (their restore conditions, faults and archives).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.domain import manifests
from services.domain.resources import RESTORE_SESSION, Resource
from services.worker import jobs
from tests.api_harness import assert_problem
from tests.integration import test_backups_flow as backups_flow
from tests.integration.reconciler_world import NAMESPACE
from tests.integration.test_backups_flow import Setup, _finished, _run_backup, _take

setup = backups_flow.setup  # the same fixture: an API, a world and a BackupStorage

ENGINES = {
    # engine: (plural, kind, version)
    "postgres": ("postgreses", "Postgres", "16.4"),
    "mysql": ("mysqls", "MySQL", "8.4.8"),
    "mongodb": ("mongodbs", "MongoDB", "8.0.17"),
    "redis": ("redises", "Redis", "7.4.6"),
}


def _backed_up(setup: Setup, name: str, engine: str = "postgres") -> tuple[uuid.UUID, str]:
    """A ready database and a succeeded backup of it: (database id, backup id)."""
    version = ENGINES[engine][2]
    db = setup.world.ready(name, engine=engine, version=version, replicas=1)
    taken = _take(setup, db.id)
    _run_backup(setup, db.id)
    done = setup.world.cycle_until(
        lambda: _finished(setup, taken["id"], taken["operation"]["id"]), timeout=30
    )
    assert done["state"] == "succeeded", done
    return db.id, taken["id"]


def _restore(
    setup: Setup, name: str, restore: dict[str, Any], engine: str = "postgres", **extra: Any
) -> Any:
    body = {
        "name": name,
        "engine": engine,
        "version": ENGINES[engine][2],
        "storage": "10Gi",
        "restore": restore,
        **extra,
    }
    with setup.client() as client:
        return client.post("/v1/databases", json=body)


def _accepted(response: Any) -> tuple[uuid.UUID, uuid.UUID]:
    assert response.status_code == 202, response.text
    body = response.json()
    (operation,) = body["operations"]
    assert operation["type"] == "restore" and operation["state"] == "pending"
    assert body["state"] == "creating"
    return uuid.UUID(body["id"]), uuid.UUID(operation["id"])


def _settle(setup: Setup, database_id: uuid.UUID, operation_id: uuid.UUID) -> Any:
    outcome = setup.world.work(database_id)
    assert "waiting" in outcome, outcome
    return setup.world.cycle_until(lambda: setup.world.settled(operation_id), timeout=30)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_backup_restores_into_a_new_database_that_becomes_ready(
    setup: Setup, engine: str
) -> None:
    source_id, backup_id = _backed_up(setup, f"src-{engine}", engine)
    database_id, operation_id = _accepted(
        _restore(setup, f"copy-{engine}", {"backup_id": backup_id}, engine)
    )
    op = _settle(setup, database_id, operation_id)
    assert op.state == "succeeded", op.error
    assert op.k8s_kind == "RestoreSession"
    setup.world.cycle_until(lambda: setup.world.database(database_id).state == "ready")
    plural, kind, _ = ENGINES[engine]
    cr = setup.world.cluster.get(
        Resource("kubedb.com", "v1", plural, kind), NAMESPACE, f"copy-{engine}"
    )
    assert cr["spec"]["init"]["waitForInitialRestore"] is True
    restored = {c["type"]: c for c in cr["status"]["conditions"]}["DataRestored"]
    assert restored["status"] == "True"
    session = setup.world.cluster.get(RESTORE_SESSION, NAMESPACE, op.k8s_name)
    assert session["status"]["phase"] == "Succeeded"
    assert session["metadata"]["labels"][manifests.LABEL_OPERATION_ID] == str(operation_id)
    assert (
        session["spec"]["dataSource"]["snapshot"]
        == setup.world.operation(operation_id).params["restore"]["snapshot"]
    )
    # A duplicate or re-dispatched job of the finished restore creates nothing twice.
    assert "not claimable" in jobs.execute(setup.world.worker, str(operation_id))
    with setup.client() as client:
        ops = client.get(f"/v1/databases/{database_id}/operations").json()
        events = client.get(f"/v1/databases/{database_id}/events").json()
    assert [o["type"] for o in ops["items"]] == ["restore"]
    assert any(e["kind"] == "database.restore-requested" for e in events["items"])
    assert source_id != database_id


def test_a_failing_restore_leaves_the_database_failed_with_kubestashs_reason(
    setup: Setup,
) -> None:
    _, backup_id = _backed_up(setup, "ledger")
    reason = "restic: wrong password or no key found"
    setup.world.sim.set_faults(
        kubestash={
            "restores": [{"mode": "fail", "reason": reason, "database": f"{NAMESPACE}/broken"}]
        }
    )
    database_id, operation_id = _accepted(_restore(setup, "broken", {"backup_id": backup_id}))
    op = _settle(setup, database_id, operation_id)
    assert op.state == "failed"
    assert op.error is not None and reason in op.error["detail"]
    assert op.error["type"] == "kubestash-restore-failed"
    setup.world.cycle_until(lambda: setup.world.database(database_id).state == "failed")


def test_a_restore_is_refused_clearly_when_it_cannot_be_done(setup: Setup) -> None:
    source_id, backup_id = _backed_up(setup, "refusing")
    unknown = _restore(setup, "nope-1", {"backup_id": str(uuid.uuid4())})
    assert_problem(unknown, 404, "not-found")
    engine = _restore(setup, "nope-2", {"backup_id": backup_id}, "mysql")
    assert assert_problem(engine, 422, "restore-not-possible")["reason"] == "engine-mismatch"
    for version in ("16.1", "17.9"):  # an older minor, another major
        refused = _restore(setup, "nope-3", {"backup_id": backup_id}, version=version)
        problem = assert_problem(refused, 422, "restore-not-possible")
        assert problem["reason"] == "version-incompatible" and "16.4" in problem["detail"]
    both = _restore(setup, "nope-4", {"backup_id": backup_id, "database_id": str(source_id)})
    assert_problem(both, 422, "validation-failed")
    no_window = _restore(
        setup,
        "nope-5",
        {"database_id": str(source_id), "point_in_time": "2026-01-01T00:00:00Z"},
    )
    assert assert_problem(no_window, 422, "restore-not-possible")["reason"] == (
        "no-point-in-time-recovery"
    )
    with setup.client() as client:
        listed = client.get("/v1/databases", params={"name": "nope-3"}).json()
    assert listed["items"] == []  # nothing half-applied


def test_another_projects_backup_is_not_found(setup: Setup) -> None:
    _, backup_id = _backed_up(setup, "private")
    stranger = setup.api.key(role="admin", project="someone-else")
    body = {
        "name": "stolen",
        "engine": "postgres",
        "version": "16.4",
        "storage": "10Gi",
        "restore": {"backup_id": backup_id},
    }
    with setup.client(stranger) as client:
        response = client.post("/v1/databases", json=body)
    problem = assert_problem(response, 404, "not-found")
    assert "private" not in problem["detail"]


def test_a_pending_restore_can_be_cancelled_and_its_database_is_then_deleted(
    setup: Setup,
) -> None:
    _, backup_id = _backed_up(setup, "kept")
    database_id, operation_id = _accepted(_restore(setup, "unwanted", {"backup_id": backup_id}))
    with setup.client() as client:
        cancelled = client.post(f"/v1/operations/{operation_id}/cancel")
        gone = client.get(f"/v1/databases/{database_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert setup.world.operation(operation_id).state == "cancelled"
    assert gone.status_code == 404
    assert "not claimable" in jobs.execute(setup.world.worker, str(operation_id))
    sessions = setup.world.cluster.list_all(RESTORE_SESSION, namespace=NAMESPACE)[0]
    assert sessions == []


# -- point in time ------------------------------------------------------------------------


def _archive(setup: Setup, database_id: uuid.UUID) -> None:
    """Turn point-in-time recovery on through the API (`backup.pitr`): the worker creates
    the database's archiver and points its CR at it; KubeDB (the sim) archives it."""
    with setup.client() as client:
        etag = client.get(f"/v1/databases/{database_id}").headers["etag"]
        response = client.patch(
            f"/v1/databases/{database_id}",
            json={"backup": {"schedule": "@daily", "pitr": True}},
            headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
        )
    assert response.status_code == 202, response.text
    assert "succeeded" in setup.world.work(database_id)


def _window(setup: Setup, database_id: uuid.UUID) -> dict[str, str] | None:
    with setup.client() as client:
        body = client.get(f"/v1/databases/{database_id}").json()
    window: dict[str, str] | None = body["restorable_window"]
    return window


def test_a_database_restores_to_a_point_in_time_within_its_window(setup: Setup) -> None:
    source = setup.world.ready("archived", replicas=1)
    assert _window(setup, source.id) is None  # not archived yet
    _archive(setup, source.id)
    window = setup.world.cycle_until(lambda: _window(setup, source.id), timeout=30)
    assert window["earliest"] <= window["latest"]

    too_early = _restore(
        setup,
        "too-early",
        {"database_id": str(source.id), "point_in_time": "2001-01-01T00:00:00Z"},
    )
    problem = assert_problem(too_early, 422, "restore-not-possible")
    assert problem["reason"] == "outside-window" and window["earliest"] in problem["detail"]

    database_id, operation_id = _accepted(
        _restore(
            setup,
            "as-of",
            {"database_id": str(source.id), "point_in_time": window["latest"]},
        )
    )
    op = _settle(setup, database_id, operation_id)
    assert op.state == "succeeded", op.error
    cr = setup.world.cr("as-of")
    init = cr["spec"]["init"]["archiver"]
    assert init["recoveryTimestamp"] == window["latest"]
    assert init["fullDBRepository"] == {"name": "archived-full", "namespace": NAMESPACE}
    setup.world.cycle_until(lambda: setup.world.database(database_id).state == "ready")


def test_redis_has_no_point_in_time_restore(setup: Setup) -> None:
    cache = setup.world.ready("cache", engine="redis", version=ENGINES["redis"][2], replicas=1)
    with setup.client() as client:
        assert client.get(f"/v1/databases/{cache.id}").json()["restorable_window"] is None
    refused = _restore(
        setup,
        "cache-then",
        {"database_id": str(cache.id), "point_in_time": "2026-01-01T00:00:00Z"},
        "redis",
    )
    problem = assert_problem(refused, 422, "restore-not-possible")
    assert problem["reason"] == "no-point-in-time-recovery"


def test_a_restarted_status_sync_finds_the_restore_again_and_ends_it(setup: Setup) -> None:
    """What a kill -9 of status-sync leaves: a new process with an empty view, which must
    learn the RestoreSession from its first lists (no event is replayed to it)."""
    _, backup_id = _backed_up(setup, "steady")
    database_id, operation_id = _accepted(_restore(setup, "again", {"backup_id": backup_id}))
    assert "waiting" in setup.world.work(database_id)
    setup.world.sync.on_demoted()  # its view is gone, as with the process
    session = setup.world.operation(operation_id).k8s_name
    assert session is not None
    setup.world.sim.wait_for(
        lambda: (
            setup.world.cluster.get(RESTORE_SESSION, NAMESPACE, session)
            .get("status", {})
            .get("phase")
            == "Succeeded"
        )
    )
    setup.world.sync.on_promoted()  # a new leader: lists everything, then watches
    op = setup.world.cycle_until(lambda: setup.world.settled(operation_id), timeout=30)
    assert op.state == "succeeded", op.error
    setup.world.cycle_until(lambda: setup.world.database(database_id).state == "ready")

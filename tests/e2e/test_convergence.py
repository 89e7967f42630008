"""End to end: the API, the RQ worker and both reconcilers as processes, over the simulated
cluster, until what the API shows converges with what was asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.store import projects
from tests.e2e.control_plane import Plane, control_plane, wait_for
from tests.fixtures_sim import SimCluster

NAMESPACE = projects.namespace_for("acme")


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path) as running:
        yield running


def ready_database(plane: Plane, name: str, **overrides: object) -> dict[str, object]:
    created = plane.create(name, **overrides)
    (create_op,) = created["operations"]
    assert plane.settled(create_op["id"])["state"] == "succeeded"
    return plane.converged(created["id"])


def test_create_then_every_change_succeeds_and_observed_equals_desired(plane: Plane) -> None:
    db = ready_database(plane, "orders")
    assert db["status"]["phase"] == "Ready"
    assert db["status"]["endpoint"] == f"orders.{NAMESPACE}.svc:5432"
    database_id = str(db["id"])
    changes: list[dict[str, object]] = [
        {"replicas": 3},
        {"resources": {"cpu": "1", "memory": "2Gi"}},
        {"storage": "20Gi"},
        {"version": "16.13"},
    ]
    for body in changes:
        (op,) = plane.patch(database_id, body)
        done = plane.settled(op["id"])
        assert done["state"] == "succeeded", done
        converged = plane.converged(database_id)
        assert converged["generation"] == op["generation"]
    restart = plane.post(f"/v1/databases/{database_id}/restart")
    (restart_op,) = restart["operations"]
    assert plane.settled(restart_op["id"])["state"] == "succeeded"
    final = plane.converged(database_id)
    observed = final["status"]["observed"]
    assert (observed["replicas"], observed["version"], observed["storage"]) == (3, "16.13", "20Gi")
    assert (observed["cpu"], observed["memory"]) == ("1", "2Gi")
    deleted = plane.post(f"/v1/databases/{database_id}")
    (delete_op,) = deleted["operations"]
    assert plane.settled(delete_op["id"])["state"] == "succeeded"
    assert plane.get(f"/v1/databases/{database_id}") is None


def test_an_ops_request_failing_in_the_cluster_fails_the_operation_with_the_reason(
    plane: Plane,
) -> None:
    db = ready_database(plane, "orders")
    database_id = str(db["id"])
    plane.sim.fail_next_ops("volume expansion not supported", database=f"{NAMESPACE}/orders")
    (op,) = plane.patch(database_id, {"storage": "20Gi"})
    failed = plane.settled(op["id"])
    assert failed["state"] == "failed"
    assert failed["error"]["type"] == "kubedb-ops-failed"
    assert "volume expansion not supported" in failed["error"]["detail"]
    after = plane.converged(database_id)
    assert after["storage"] == "10Gi", "desired is rolled back to what the cluster has"
    kinds = [event["kind"] for event in plane.events(database_id)]
    assert "operation.failed" in kinds


def test_an_out_of_band_edit_is_corrected_by_a_drift_operation(plane: Plane) -> None:
    db = ready_database(plane, "orders", replicas=3)
    database_id = str(db["id"])
    plane.sim.edit("postgreses", NAMESPACE, "orders", {"spec": {"replicas": 2}})

    def drift_op() -> dict[str, object] | None:
        found = [op for op in plane.operations(database_id) if op["origin"] == "drift"]
        return found[0] if found else None

    op = wait_for(drift_op, timeout=30, what="a drift operation")
    assert (op["type"], op["params"]) == ("scale", {"replicas": 3})
    assert plane.settled(str(op["id"]))["state"] == "succeeded"
    converged = plane.converged(database_id)
    assert converged["status"]["observed"]["replicas"] == 3
    assert any(e["kind"] == "drift.detected" for e in plane.events(database_id))
    time.sleep(3)  # several drift passes later: still exactly one drift operation
    assert len([o for o in plane.operations(database_id) if o["origin"] == "drift"]) == 1


def test_a_cr_deleted_out_of_band_is_handled_per_policy(plane: Plane) -> None:
    corrected = ready_database(plane, "orders")
    reported = ready_database(plane, "billing", drift_policy="report")
    plane.sim.vanish("postgreses", NAMESPACE, "orders")
    plane.sim.vanish("postgreses", NAMESPACE, "billing")
    recreated = wait_for(
        lambda: [o for o in plane.operations(str(corrected["id"])) if o["origin"] == "drift"],
        timeout=30,
        what="a drift create operation",
    )
    assert recreated[0]["type"] == "create"
    assert plane.settled(recreated[0]["id"])["state"] == "succeeded"
    plane.converged(str(corrected["id"]))
    billing_id = str(reported["id"])
    event = wait_for(
        lambda: [e for e in plane.events(billing_id) if e["kind"] == "drift.detected"],
        timeout=30,
        what="a drift.detected event",
    )[0]
    assert event["details"]["missing"] is True and event["details"]["action"] == "report"
    billing = wait_for(
        lambda: (db := plane.database(billing_id))["state"] == "degraded" and db,
        timeout=30,
        what="billing degraded",
    )
    assert billing["status"]["phase"] is None
    assert billing["status"]["message"] == "the database resource does not exist in the cluster"
    assert [o["type"] for o in plane.operations(billing_id)] == ["create"]


def test_a_broken_watch_and_a_410_are_recovered_without_missed_updates(plane: Plane) -> None:
    db = ready_database(plane, "orders")
    database_id = str(db["id"])
    for breakage, phase in ((plane.sim.drop_watches, "Critical"), (plane.sim.compact, "NotReady")):
        breakage()
        plane.sim.set_phase("postgreses", NAMESPACE, "orders", phase)
        wait_for(
            lambda phase=phase: plane.database(database_id)["status"]["phase"] == phase,
            timeout=20,
            what=f"phase {phase} to reach the API",
        )
    plane.sim.set_phase("postgreses", NAMESPACE, "orders", "Ready")
    (op,) = plane.patch(database_id, {"replicas": 3})
    assert plane.settled(op["id"])["state"] == "succeeded"
    plane.converged(database_id)
    log = plane.programs["status-sync-0"].log()
    assert "410 Gone, re-listing" in log


def test_of_two_instances_one_leads_and_the_other_takes_over_when_it_dies(
    database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path
) -> None:
    with control_plane(database_url, redis_url, sim, tmp_path, status_syncs=2, drifts=2) as plane:
        for command in ("status-sync", "drift"):
            leaders = wait_for(lambda c=command: plane.leaders(c), timeout=20, what=command)
            time.sleep(1.5)  # a few standby retries later, still exactly one
            assert plane.leaders(command) == leaders and len(leaders) == 1
        db = ready_database(plane, "orders", replicas=3)
        for command in ("status-sync", "drift"):
            (old,) = plane.leaders(command)
            plane.programs[old].kill()
            started = time.monotonic()
            (new,) = wait_for(lambda c=command: plane.leaders(c), timeout=15, what=command)
            assert new != old
            assert time.monotonic() - started < 10
        plane.sim.edit("postgreses", NAMESPACE, "orders", {"spec": {"replicas": 2}})
        op = wait_for(
            lambda: [o for o in plane.operations(str(db["id"])) if o["origin"] == "drift"],
            timeout=30,
            what="the new drift leader to correct",
        )[0]
        assert plane.settled(op["id"])["state"] == "succeeded"
        plane.converged(str(db["id"]))

"""Duplicate, stale and re-dispatched jobs: the cluster sees the effect of one run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from services.domain import naming
from services.domain.records import DatabaseRecord
from services.worker import jobs
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import (
    NAMESPACE,
    World,
    complete,
    db_resource,
    list_objects,
    make_world,
    ops_resource,
    phase_of,
    read_object,
)


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def ready_postgres(world: World, sim: SimCluster, name: str = "orders") -> DatabaseRecord:
    database, create = world.create("postgres", name, enqueue=False)
    assert "waiting" in world.run(create)
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, db_resource("postgres"), name))
            == "Ready"
        )
    )
    complete(world, world.op(create.id))
    return database


def requests_made(sim: SimCluster) -> int:
    return sum(count for verb in sim.stats()["requests"].values() for count in verb.values())


def test_the_same_operation_enqueued_twice_makes_exactly_one_ops_request(
    world: World, sim: SimCluster
) -> None:
    database = ready_postgres(world, sim)
    (scale,) = world.update(database.id, {"replicas": 2})
    world.enqueue([scale])  # a duplicate job, as a lost-then-swept enqueue makes

    outcomes = world.work()

    assert len(outcomes) == 2
    assert "waiting (PostgresOpsRequest" in outcomes[0]
    assert outcomes[1] == f"operation {scale.id}: not claimable (state waiting)"
    name = naming.ops_request_name("orders", scale.id, "scale")
    assert sim.ops_created(NAMESPACE, name) == 1
    assert len(list_objects(world.cluster.api_client, ops_resource("postgres"))) == 1
    started = [e for e in world.events("operation.started") if e.operation_id == scale.id]
    assert len(started) == 1
    assert world.op(scale.id).attempt == 1


def test_a_stale_job_for_a_finished_operation_changes_nothing(
    world: World, sim: SimCluster
) -> None:
    _, create = world.create("mongodb", "catalog", enqueue=False)
    assert "waiting" in world.run(create)
    complete(world, world.op(create.id))
    assert requests_made(sim) > 0  # the counter does count the worker's calls
    sim.reset_stats()

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: not claimable (state succeeded)"
    op = world.op(create.id)
    assert (op.state, op.attempt) == ("succeeded", 1)
    assert requests_made(sim) == 0


def test_a_job_for_an_operation_another_worker_holds_is_a_no_op(world: World) -> None:
    _, create = world.create("redis", "cache", enqueue=False)
    world.set_op(create.id, state="running", lease_owner="other/1", attempt=1)
    world.set_op(create.id, lease_expires_at=_in_seconds(world, 60))

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: not claimable (state running, leased to other/1)"
    assert world.op(create.id).attempt == 1
    assert read_object(world.cluster.api_client, db_resource("redis"), "cache") is None


def test_unknown_and_malformed_operation_ids_are_no_ops(world: World) -> None:
    assert world.run(uuid.UUID(int=7)).endswith("not claimable (no such operation)")
    assert jobs.execute(world.context, "not-a-uuid") == "operation not-a-uuid: not an operation id"


def test_a_crashed_worker_s_operation_is_reclaimed_after_its_lease_and_not_applied_twice(
    world: World, sim: SimCluster
) -> None:
    database = ready_postgres(world, sim)
    (expand,) = world.update(database.id, {"storage": "2Gi"})
    # The first worker applied the OpsRequest, then died before recording `waiting`.
    assert "waiting" in world.run(expand)
    world.set_op(
        expand.id,
        state="running",
        lease_owner="crashed-worker/1",
        k8s_kind=None,
        k8s_name=None,
        lease_expires_at=_in_seconds(world, -1),
    )

    outcome = world.run(expand)  # the sweeper's re-dispatch

    name = naming.ops_request_name("orders", expand.id, "expand")
    assert outcome == (
        f"operation {expand.id}: waiting (PostgresOpsRequest {name}, already existed)"
    )
    op = world.op(expand.id)
    assert (op.state, op.attempt, op.k8s_name) == ("waiting", 2, name)
    assert sim.ops_created(NAMESPACE, name) == 1


def test_a_rerun_expand_whose_ops_request_already_grew_the_storage_carries_on(
    world: World, sim: SimCluster
) -> None:
    database = ready_postgres(world, sim)
    (expand,) = world.update(database.id, {"storage": "2Gi"})
    assert "waiting" in world.run(expand)
    name = naming.ops_request_name("orders", expand.id, "expand")
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, ops_resource("postgres"), name))
            == "Successful"
        )
    )
    # The worker died before recording `waiting`; since then KubeDB grew the storage, so its
    # webhook denies a second VolumeExpansion create (not larger) before any AlreadyExists.
    world.set_op(
        expand.id,
        state="running",
        lease_owner="crashed-worker/1",
        k8s_kind=None,
        k8s_name=None,
        lease_expires_at=_in_seconds(world, -1),
    )

    outcome = world.run(expand)

    assert outcome == (
        f"operation {expand.id}: waiting (PostgresOpsRequest {name}, already existed)"
    )
    assert sim.ops_created(NAMESPACE, name) == 1


def test_a_rerun_create_meets_its_own_cr_and_carries_on(world: World, sim: SimCluster) -> None:
    _, create = world.create("mysql", "books", enqueue=False)
    assert "created" in world.run(create)
    world.set_op(create.id, state="running", lease_owner="dead/1")
    world.set_op(create.id, lease_expires_at=_in_seconds(world, -1))

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: waiting (MySQL books, already existed)"
    assert world.op(create.id).attempt == 2


def test_a_create_meeting_a_foreign_cr_of_the_same_name_fails_without_touching_it(
    world: World, sim: SimCluster
) -> None:
    foreign = {
        "apiVersion": "kubedb.com/v1",
        "kind": "Postgres",
        "metadata": {"name": "orders", "namespace": NAMESPACE, "labels": {"team": "other"}},
        "spec": {"version": "16.4", "storage": {"resources": {"requests": {"storage": "1Gi"}}}},
    }
    sim.create_namespace(NAMESPACE)
    client.CustomObjectsApi(world.cluster.api_client).create_namespaced_custom_object(
        "kubedb.com", "v1", NAMESPACE, "postgreses", foreign
    )
    database, create = world.create("postgres", "orders", enqueue=False)

    outcome = world.run(create)

    assert "failed (kubernetes-name-taken" in outcome
    op = world.op(create.id)
    assert op.state == "failed" and op.error is not None
    assert op.error["status"] == 409
    assert "Postgres dbaas-team-a/orders already exists" in op.error["detail"]
    cr = read_object(world.cluster.api_client, db_resource("postgres"), "orders")
    assert cr is not None and cr["metadata"]["labels"] == {"team": "other"}
    # Deleting the failed database must not delete the other team's object.
    delete = world.delete(database.id)
    assert "already gone" in world.run(delete)
    assert read_object(world.cluster.api_client, db_resource("postgres"), "orders") is not None


def _in_seconds(world: World, seconds: float) -> object:
    with world.conn() as conn:
        row = conn.execute("SELECT now() + make_interval(secs => %s) AS at", (seconds,)).fetchone()
    assert row is not None
    return row["at"]

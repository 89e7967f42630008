"""Faults of the simulated cluster: transient errors are retried, refusals fail the operation
with a problem detail and the failure policy (queued operations cancelled, desired rolled
back)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.types.json import Jsonb

from services.domain import naming
from services.domain.records import DatabaseRecord
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import (
    NAMESPACE,
    World,
    complete,
    db_resource,
    make_world,
    ops_resource,
    phase_of,
    read_object,
)


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def ready_database(world: World, sim: SimCluster, engine: str, name: str) -> DatabaseRecord:
    database, create = world.create(engine, name, enqueue=False)
    assert "waiting" in world.run(create)
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, db_resource(engine), name)) == "Ready"
        )
    )
    complete(world, world.op(create.id))
    return database


def database_row(world: World, database: DatabaseRecord) -> dict[str, object]:
    with world.conn() as conn:
        row = conn.execute(
            "SELECT state, replicas, storage FROM databases WHERE id = %s", (database.id,)
        ).fetchone()
    assert row is not None
    return dict(row)


def test_503s_then_success_are_retried_within_the_job(world: World, sim: SimCluster) -> None:
    database = ready_database(world, sim, "postgres", "orders")
    (scale,) = world.update(database.id, {"replicas": 3})
    sim.inject_errors([503], verbs=["create"], resources=["postgresopsrequests"], count=2)

    outcomes = world.work()

    name = naming.ops_request_name("orders", scale.id, "scale")
    assert outcomes == [f"operation {scale.id}: waiting (PostgresOpsRequest {name}, created)"]
    assert world.sleeps == [0.2, 0.4]
    assert sim.ops_created(NAMESPACE, name) == 1
    assert world.op(scale.id).attempt == 1


def test_429_on_the_database_cr_is_retried(world: World, sim: SimCluster) -> None:
    _, create = world.create("mongodb", "catalog", enqueue=False)
    sim.inject_errors([429], verbs=["create"], resources=["mongodbs"], count=1)

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: waiting (MongoDB catalog, created)"
    assert world.sleeps == [0.2]


def test_a_cluster_that_stays_unavailable_releases_the_operation_for_a_later_claim(
    world: World, sim: SimCluster
) -> None:
    database = ready_database(world, sim, "redis", "cache")
    op = world.restart(database.id)
    sim.inject_errors([503, 500, 504], verbs=["create"], resources=["redisopsrequests"])

    released = world.run(op)

    assert "released after 5 transient errors (claim 1/8)" in released
    assert world.sleeps == [0.2, 0.4, 0.8, 1.6]
    assert (world.op(op.id).state, world.op(op.id).attempt) == ("pending", 1)
    sim.clear_faults()

    assert "waiting (RedisOpsRequest" in world.run(op)  # the sweeper's re-dispatch
    name = naming.ops_request_name("cache", op.id, "restart")
    assert (world.op(op.id).state, world.op(op.id).attempt) == ("waiting", 2)
    assert sim.ops_created(NAMESPACE, name) == 1


def test_an_invalid_manifest_fails_the_operation_cancels_the_queue_and_rolls_back(
    world: World, sim: SimCluster
) -> None:
    database, create = world.create("postgres", "orders", enqueue=False)
    (scale,) = world.update(database.id, {"replicas": 2}, enqueue=False)
    # A row that renders out of the CRD schema (the API would never write it).
    world.set_op(create.id, params=Jsonb(create.params | {"storage": "lots"}))

    outcome = world.run(create)

    assert f"operation {create.id}: failed (kubernetes-invalid:" in outcome
    failed = world.op(create.id)
    assert failed.state == "failed" and failed.error is not None
    problem = failed.error
    assert problem["type"] == "kubernetes-invalid" and problem["status"] == 422
    assert problem["title"] and "creating Postgres dbaas-team-a/orders" in problem["detail"]
    assert problem["kubernetes"]["reason"] == "Invalid"
    fields = [cause.get("field", "") for cause in problem["kubernetes"]["causes"]]
    assert any("storage" in field for field in fields), problem
    assert world.op(scale.id).state == "cancelled"
    assert database_row(world, database) == {"state": "failed", "replicas": 1, "storage": "1Gi"}
    assert read_object(world.cluster.api_client, db_resource("postgres"), "orders") is None
    (event,) = world.events("operation.failed")
    assert event.actor == "worker" and event.details["cancelled"] == [str(scale.id)]


def test_a_webhook_refusal_fails_the_operation_with_its_message(
    world: World, sim: SimCluster
) -> None:
    database = ready_database(world, sim, "mysql", "books")
    # Someone protected the database in the cluster behind dbaas's back.
    sim.edit(
        "mysqls.kubedb.com", NAMESPACE, "books", {"spec": {"deletionPolicy": "DoNotTerminate"}}
    )
    op = world.delete(database.id)

    outcome = world.run(op)

    assert "failed (kubernetes-forbidden" in outcome
    problem = world.op(op.id).error
    assert problem is not None and problem["status"] == 403
    assert "admission webhook" in problem["detail"]
    assert read_object(world.cluster.api_client, db_resource("mysql"), "books") is not None
    assert database_row(world, database)["state"] != "deleting"


def test_an_ops_request_for_a_database_missing_from_the_cluster_fails(
    world: World, sim: SimCluster
) -> None:
    database = ready_database(world, sim, "postgres", "orders")
    sim.vanish("postgreses.kubedb.com", NAMESPACE, "orders")
    op = world.restart(database.id)

    outcome = world.run(op)

    assert f"operation {op.id}: failed" in outcome
    problem = world.op(op.id).error
    assert problem is not None and problem["status"] in (403, 404)
    assert "orders" in problem["detail"]
    name = naming.ops_request_name("orders", op.id, "restart")
    assert read_object(world.cluster.api_client, ops_resource("postgres"), name) is None

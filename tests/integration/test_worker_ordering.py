"""Per-database ordering: only the head of a database's queue runs; the next follows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.domain import naming
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import (
    NAMESPACE,
    World,
    complete,
    db_resource,
    make_world,
    phase_of,
    read_object,
)


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def test_of_three_queued_operations_only_the_head_is_claimable(
    world: World, sim: SimCluster
) -> None:
    database, create = world.create("postgres", "orders")
    expand, resize = world.update(
        database.id, {"storage": "2Gi", "resources": {"cpu": "1", "memory": "1Gi"}}
    )
    assert [op.type for op in (create, expand, resize)] == ["create", "expand", "resize"]

    outcomes = world.work()  # all three jobs run, in queue order

    assert outcomes[0].startswith(f"operation {create.id}: waiting (Postgres orders")
    assert outcomes[1] == (
        f"operation {expand.id}: not claimable "
        f"(pending behind operation {create.id} (create, waiting))"
    )
    assert outcomes[2].startswith(f"operation {resize.id}: not claimable (pending behind")
    assert [world.op(op.id).state for op in (create, expand, resize)] == [
        "waiting",
        "pending",
        "pending",
    ]
    assert world.op(expand.id).attempt == 0

    # The second is claimable only once the first has left running/waiting.
    assert "not claimable" in world.run(resize)
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, db_resource("postgres"), "orders"))
            == "Ready"
        )
    )
    complete(world, world.op(create.id))
    assert "not claimable (pending behind operation" in world.run(resize)
    assert "waiting (PostgresOpsRequest" in world.run(expand)
    assert f"pending behind operation {expand.id} (expand, waiting)" in world.run(resize)
    complete(world, world.op(expand.id))
    assert "waiting (PostgresOpsRequest" in world.run(resize)


def test_a_synchronous_operation_enqueues_the_next_one_which_then_runs(
    world: World, sim: SimCluster
) -> None:
    database, create = world.create("mysql", "books", replicas=3, enqueue=False)
    assert "waiting" in world.run(create)
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, db_resource("mysql"), "books"))
            == "Ready"
        )
    )
    complete(world, world.op(create.id))
    configure, scale = world.update(
        database.id, {"deletion_policy": "Halt", "replicas": 5}, enqueue=False
    )
    world.enqueue([configure])  # as if the scale job had been lost

    outcomes = world.work()

    assert outcomes[0] == (
        f"operation {configure.id}: succeeded (MySQL books patched); next {scale.id} enqueued"
    )
    name = naming.ops_request_name("books", scale.id, "scale")
    assert outcomes[1] == f"operation {scale.id}: waiting (MySQLOpsRequest {name}, created)"
    assert sim.ops_created(NAMESPACE, name) == 1
    assert world.op(scale.id).enqueued_at is not None

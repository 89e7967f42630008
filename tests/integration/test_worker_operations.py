"""Every operation type on all four engines: the worker applies the right object to the
simulated cluster (read back with the official client) and moves the operation on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.domain import engines, manifests, naming
from services.domain.records import DatabaseRecord, OperationRecord
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import (
    NAMESPACE,
    REPLICAS,
    VERSIONS,
    World,
    complete,
    db_resource,
    make_world,
    ops_resource,
    phase_of,
    read_object,
)

ENGINES = ["postgres", "mysql", "mongodb", "redis"]


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def ready_database(
    world: World, sim: SimCluster, engine: str, *, replicas: int = 1
) -> DatabaseRecord:
    """A database created through the worker, provisioned by the sim, its create completed."""
    database, create = world.create(engine, f"{engine}-db", replicas=replicas, enqueue=False)
    assert "waiting" in world.run(create)
    api = world.cluster.api_client
    sim.wait_for(lambda: phase_of(read_object(api, db_resource(engine), database.name)) == "Ready")
    complete(world, world.op(create.id))
    return database


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("replicated", [False, True], ids=["standalone", "replicated"])
def test_create_applies_the_database_cr_and_waits_for_kubedb(
    world: World, sim: SimCluster, engine: str, replicated: bool
) -> None:
    replicas = REPLICAS[engine][0] if replicated else 1
    database, create = world.create(engine, "orders", replicas=replicas, storage="2Gi")

    assert len(world.work()) == 1

    op = world.op(create.id)
    facts = engines.spec_for(engine)
    assert (op.state, op.k8s_kind, op.k8s_name) == ("waiting", facts.kind, "orders")
    assert op.lease_owner is None and op.attempt == 1
    cr = read_object(world.cluster.api_client, db_resource(engine), "orders")
    assert cr is not None
    labels = cr["metadata"]["labels"]
    assert labels[manifests.LABEL_DATABASE_ID] == str(database.id)
    assert labels[manifests.LABEL_PROJECT] == "team-a"
    assert cr["spec"]["version"] == VERSIONS[engine][0]
    assert cr["spec"]["storage"]["resources"]["requests"]["storage"] == "2Gi"
    assert cr["spec"]["deletionPolicy"] == "Delete"
    observed = manifests.observed_spec_from_cr(engine, cr)
    assert (observed["replicas"], observed["topology"]) == (
        replicas,
        "replicated" if replicated else "standalone",
    )
    applied = world.events("operation.applied")
    assert [event.message for event in applied] == [f"create: {facts.kind} orders created"]
    assert [event.actor for event in applied] == ["worker"]
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, db_resource(engine), "orders"))
            == "Ready"
        )
    )


def _scale(world: World, db: DatabaseRecord) -> OperationRecord:
    return world.update(db.id, {"replicas": REPLICAS[db.engine][1]})[0]


def _resize(world: World, db: DatabaseRecord) -> OperationRecord:
    return world.update(db.id, {"resources": {"cpu": "750m", "memory": "1536Mi"}})[0]


def _expand(world: World, db: DatabaseRecord) -> OperationRecord:
    return world.update(db.id, {"storage": "3Gi"})[0]


def _upgrade(world: World, db: DatabaseRecord) -> OperationRecord:
    return world.update(db.id, {"version": VERSIONS[db.engine][1]})[0]


def _restart(world: World, db: DatabaseRecord) -> OperationRecord:
    return world.restart(db.id)


def _component(engine: str, replicated: bool) -> str:
    if engine == "mongodb":
        return "replicaSet" if replicated else "standalone"
    return engines.spec_for(engine).container


def _check_scale(spec: dict[str, Any], engine: str) -> None:
    assert spec["type"] == "HorizontalScaling"
    key = "member" if engine == "mysql" else "replicas"
    assert spec["horizontalScaling"][key] == REPLICAS[engine][1]


def _check_resize(spec: dict[str, Any], engine: str) -> None:
    assert spec["type"] == "VerticalScaling"
    resources = spec["verticalScaling"][_component(engine, True)]["resources"]
    assert resources["requests"] == {"cpu": "750m", "memory": "1536Mi"}


def _check_expand(spec: dict[str, Any], engine: str) -> None:
    assert spec["type"] == "VolumeExpansion"
    assert spec["volumeExpansion"] == {"mode": "Online", _component(engine, True): "3Gi"}


def _check_upgrade(spec: dict[str, Any], engine: str) -> None:
    assert spec["type"] == "UpdateVersion"
    assert spec["updateVersion"]["targetVersion"] == VERSIONS[engine][1]


def _check_restart(spec: dict[str, Any], engine: str) -> None:
    assert spec["type"] == "Restart" and spec["restart"] == {}


OPS_REQUEST_CASES: dict[
    str,
    tuple[
        Callable[[World, DatabaseRecord], OperationRecord], Callable[[dict[str, Any], str], None]
    ],
] = {
    "scale": (_scale, _check_scale),
    "resize": (_resize, _check_resize),
    "expand": (_expand, _check_expand),
    "upgrade": (_upgrade, _check_upgrade),
    "restart": (_restart, _check_restart),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("op_type", list(OPS_REQUEST_CASES))
def test_change_operations_create_their_ops_request_with_a_deterministic_name(
    world: World, sim: SimCluster, engine: str, op_type: str
) -> None:
    database = ready_database(world, sim, engine, replicas=REPLICAS[engine][0])
    request, check = OPS_REQUEST_CASES[op_type]
    op = request(world, database)
    assert op.type == op_type

    assert len(world.work()) == 1

    name = naming.ops_request_name(database.name, op.id, op_type)
    facts = engines.spec_for(engine)
    found = world.op(op.id)
    assert (found.state, found.k8s_kind, found.k8s_name) == ("waiting", facts.ops_kind, name)
    ops_request = read_object(world.cluster.api_client, ops_resource(engine), name)
    assert ops_request is not None
    assert ops_request["spec"]["databaseRef"] == {"name": database.name}
    assert ops_request["metadata"]["labels"][manifests.LABEL_OPERATION_ID] == str(op.id)
    check(ops_request["spec"], engine)
    assert sim.ops_created(NAMESPACE, name) == 1
    # The simulated ops-manager accepts and carries it out.
    sim.wait_for(
        lambda: (
            phase_of(read_object(world.cluster.api_client, ops_resource(engine), name))
            == "Successful"
        )
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_configure_patches_the_deletion_policy_and_succeeds_at_once(
    world: World, sim: SimCluster, engine: str
) -> None:
    database = ready_database(world, sim, engine)
    (op,) = world.update(database.id, {"deletion_policy": "WipeOut"})
    assert op.type == "configure"

    assert len(world.work()) == 1

    found = world.op(op.id)
    facts = engines.spec_for(engine)
    assert (found.state, found.k8s_kind, found.k8s_name) == ("succeeded", facts.kind, database.name)
    cr = read_object(world.cluster.api_client, db_resource(engine), database.name)
    assert cr is not None and cr["spec"]["deletionPolicy"] == "WipeOut"
    assert [event.operation_id for event in world.events("operation.succeeded")][-1] == op.id


@pytest.mark.parametrize("engine", ENGINES)
def test_delete_removes_the_database_cr_and_waits_for_the_finalizer(
    world: World, sim: SimCluster, engine: str
) -> None:
    database = ready_database(world, sim, engine)
    op = world.delete(database.id)

    assert len(world.work()) == 1

    found = world.op(op.id)
    facts = engines.spec_for(engine)
    assert (found.state, found.k8s_kind, found.k8s_name) == ("waiting", facts.kind, database.name)
    sim.wait_for(
        lambda: read_object(world.cluster.api_client, db_resource(engine), database.name) is None
    )


def test_delete_of_a_database_already_gone_succeeds_at_once(world: World, sim: SimCluster) -> None:
    database = ready_database(world, sim, "redis")
    sim.vanish("redises.kubedb.com", NAMESPACE, database.name)
    op = world.delete(database.id)

    outcome = world.run(op)

    assert "succeeded (Redis redis-db already gone)" in outcome
    assert world.op(op.id).state == "succeeded"
    with world.conn() as conn:
        row = conn.execute("SELECT state FROM databases WHERE id = %s", (database.id,)).fetchone()
    assert row == {"state": "deleted"}

"""The control layer's use cases and the operation state machine, on real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence

import pytest

from services.clients import postgres
from services.clients.postgres import Connection
from services.control import databases as control
from services.control import errors, outcomes
from services.domain import specs, versions
from services.domain.records import DatabaseRecord, Principal
from services.sim import catalog as sim_catalog
from services.store import databases, events, keys, operations

Catalog = Mapping[str, Sequence[versions.CatalogVersion]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    by_engine: dict[str, list[versions.CatalogVersion]] = {}
    for obj in sim_catalog.catalog_objects():
        parsed = versions.parse_catalog_object(obj)
        by_engine.setdefault(parsed.engine, []).append(parsed)
    return by_engine


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    with postgres.connect(database_url, autocommit=True) as connection:
        yield connection


def principal_for(conn: Connection, project: str = "team-a", role: str = "admin") -> Principal:
    found = keys.authenticate(conn, keys.create(conn, project_id=project, role=role))
    assert found is not None
    return found


def new_database(
    conn: Connection, principal: Principal, catalog: Catalog, **overrides: object
) -> control.Accepted:
    body = {"name": "orders", "engine": "postgres", "version": "16.13", "storage": "10Gi"}
    spec = specs.validate_create(body | overrides, catalog=catalog)
    return control.create_database(conn, principal, spec)


def test_create_writes_database_operation_and_event_together(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    accepted = new_database(conn, principal, catalog)
    assert accepted.database.state == "creating"
    assert accepted.database.generation == 1
    [op] = accepted.operations
    assert (op.type, op.state, op.origin) == ("create", "pending", "api")
    assert op.requested_by == principal.actor
    [event] = events.for_database(conn, accepted.database.id)
    assert event.kind == "database.create-requested"


def test_a_live_name_is_unique_per_project_but_not_across_projects(
    conn: Connection, catalog: Catalog
) -> None:
    first, other = principal_for(conn, "team-a"), principal_for(conn, "team-b")
    new_database(conn, first, catalog)
    with pytest.raises(errors.NameConflict):
        new_database(conn, first, catalog)
    assert new_database(conn, other, catalog).database.name == "orders"


def test_concurrent_creates_of_one_name_have_exactly_one_winner(
    database_url: str, catalog: Catalog
) -> None:
    with postgres.connect(database_url, autocommit=True) as setup:
        principal = principal_for(setup)
    results: list[str] = []

    def create() -> None:
        with postgres.connect(database_url, autocommit=True) as own:
            try:
                new_database(own, principal, catalog)
                results.append("created")
            except errors.NameConflict:
                results.append("conflict")

    threads = [threading.Thread(target=create, name=f"create-{i}") for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["conflict"] * 19 + ["created"]


def test_patch_bumps_generation_and_plans_one_operation_per_change(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog).database
    accepted = control.update_database(
        conn,
        principal,
        created.id,
        {"replicas": 3, "storage": "20Gi"},
        if_match=created.etag,
        catalog=catalog,
    )
    assert accepted.database.generation == 2
    assert (accepted.database.replicas, accepted.database.storage) == (3, "20Gi")
    assert {op.type for op in accepted.operations} == {"scale", "expand"}
    scale = next(op for op in accepted.operations if op.type == "scale")
    assert scale.previous["replicas"] == 1 and scale.params["replicas"] == 3


def test_patch_with_a_stale_etag_is_refused_and_changes_nothing(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog).database
    control.update_database(
        conn, principal, created.id, {"replicas": 2}, if_match=None, catalog=catalog
    )
    with pytest.raises(errors.PreconditionFailed):
        control.update_database(
            conn, principal, created.id, {"replicas": 3}, if_match=created.etag, catalog=catalog
        )
    ops = operations.open_for_database(conn, created.id)
    assert [op.type for op in ops] == ["create", "scale"]


def test_another_projects_database_is_not_found(conn: Connection, catalog: Catalog) -> None:
    owner, stranger = principal_for(conn, "team-a"), principal_for(conn, "team-b")
    created = new_database(conn, owner, catalog).database
    with pytest.raises(errors.NotFound):
        control.update_database(
            conn, stranger, created.id, {"replicas": 2}, if_match=None, catalog=catalog
        )
    with pytest.raises(errors.NotFound):
        control.delete_database(conn, stranger, created.id, if_match=None)


def test_do_not_terminate_refuses_deletion(conn: Connection, catalog: Catalog) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog, deletion_policy="DoNotTerminate").database
    with pytest.raises(errors.DeletionProtected):
        control.delete_database(conn, principal, created.id, if_match=None)


def test_delete_cancels_pending_changes_and_blocks_further_ones(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog).database
    control.update_database(
        conn, principal, created.id, {"replicas": 2}, if_match=None, catalog=catalog
    )
    deleted = control.delete_database(conn, principal, created.id, if_match=None)
    assert deleted.database.state == "deleting"
    assert [op.type for op in operations.open_for_database(conn, created.id)] == [
        "create",
        "delete",
    ]
    with pytest.raises(errors.DatabaseDeleting):
        control.restart_database(conn, principal, created.id)


def test_only_the_head_of_a_databases_queue_can_be_claimed(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog)
    [create_op] = created.operations
    [scale_op] = control.update_database(
        conn, principal, created.database.id, {"replicas": 2}, if_match=None, catalog=catalog
    ).operations
    assert operations.claim(conn, scale_op.id, owner="w1", lease_seconds=30) is None
    claimed = operations.claim(conn, create_op.id, owner="w1", lease_seconds=30)
    assert claimed is not None and claimed.attempt == 1
    assert operations.claim(conn, create_op.id, owner="w2", lease_seconds=30) is None
    assert operations.mark_waiting(
        conn, create_op.id, owner="w1", k8s_kind="Postgres", k8s_name="orders"
    )
    assert operations.claim(conn, scale_op.id, owner="w1", lease_seconds=30) is None
    assert outcomes.succeed_operation(conn, create_op.id, actor="test") is not None
    assert outcomes.succeed_operation(conn, create_op.id, actor="test") is None
    assert operations.claim(conn, scale_op.id, owner="w1", lease_seconds=30) is not None


def test_an_expired_lease_lets_another_worker_resume(conn: Connection, catalog: Catalog) -> None:
    principal = principal_for(conn)
    [op] = new_database(conn, principal, catalog).operations
    assert operations.claim(conn, op.id, owner="dead", lease_seconds=0) is not None
    assert operations.dispatchable(conn, pending_older_than=3600) == [op.id]
    resumed = operations.claim(conn, op.id, owner="alive", lease_seconds=30)
    assert resumed is not None and resumed.attempt == 2
    assert not operations.mark_waiting(
        conn, op.id, owner="dead", k8s_kind="Postgres", k8s_name="orders"
    )


def test_failure_cancels_queued_operations_and_rolls_desired_back(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog)
    [create_op] = created.operations
    db_id = created.database.id
    operations.claim(conn, create_op.id, owner="w", lease_seconds=30)
    operations.mark_waiting(conn, create_op.id, owner="w", k8s_kind="Postgres", k8s_name="orders")
    outcomes.succeed_operation(conn, create_op.id, actor="test")
    [scale] = control.update_database(
        conn, principal, db_id, {"replicas": 3}, if_match=None, catalog=catalog
    ).operations
    [expand] = control.update_database(
        conn, principal, db_id, {"storage": "20Gi"}, if_match=None, catalog=catalog
    ).operations
    operations.claim(conn, scale.id, owner="w", lease_seconds=30)
    failed = outcomes.fail_operation(
        conn, scale.id, problem={"title": "Failed", "detail": "no nodes"}, actor="test"
    )
    assert failed is not None and failed.error == {"title": "Failed", "detail": "no nodes"}
    after = operations.get(conn, expand.id)
    assert after is not None and after.state == "cancelled"
    record = control.spec_of(_reload(conn, principal, db_id))
    assert (record.replicas, record.storage) == (1, "10Gi")
    assert [e.kind for e in events.for_database(conn, db_id)][-1] == "operation.failed"


def test_cancelling_a_pending_change_hands_its_previous_value_to_a_later_one(
    conn: Connection, catalog: Catalog
) -> None:
    principal = principal_for(conn)
    created = new_database(conn, principal, catalog)
    db_id = created.database.id
    [first] = control.update_database(
        conn, principal, db_id, {"replicas": 3}, if_match=None, catalog=catalog
    ).operations
    [second] = control.update_database(
        conn, principal, db_id, {"replicas": 5}, if_match=None, catalog=catalog
    ).operations
    outcomes.cancel_operation(conn, principal, first.id)
    later = operations.get(conn, second.id)
    assert later is not None and later.previous["replicas"] == 1
    assert _reload(conn, principal, db_id).replicas == 5
    outcomes.cancel_operation(conn, principal, second.id)
    assert _reload(conn, principal, db_id).replicas == 1
    with pytest.raises(errors.OperationNotCancellable):
        outcomes.cancel_operation(conn, principal, second.id)
    with pytest.raises(errors.NotFound):
        outcomes.cancel_operation(conn, principal, uuid.uuid4())


def _reload(conn: Connection, principal: Principal, database_id: uuid.UUID) -> DatabaseRecord:
    record = databases.get(conn, principal.project_id, database_id)
    assert record is not None
    return record

"""Rows for reconciler tests, made through the real use cases and store functions."""

from __future__ import annotations

from typing import Any

from services.clients.postgres import Connection
from services.control import databases as control
from services.domain import specs
from services.domain.records import DatabaseRecord, OperationRecord, Principal
from services.store import keys, operations


def principal_for(conn: Connection, project: str = "acme", role: str = "admin") -> Principal:
    found = keys.authenticate(conn, keys.create(conn, project_id=project, role=role))
    assert found is not None
    return found


def new_database(
    conn: Connection, principal: Principal, name: str = "orders", **overrides: Any
) -> tuple[DatabaseRecord, OperationRecord]:
    """A database as the API creates it: the row and its pending `create` operation."""
    values: dict[str, Any] = {
        "name": name,
        "engine": "postgres",
        "version": "16.13",
        "replicas": 1,
        "storage": "10Gi",
    }
    values.update(overrides)
    accepted = control.create_database(conn, principal, specs.DatabaseSpec(**values))
    return accepted.database, accepted.operations[0]


def to_waiting(conn: Connection, op: OperationRecord, *, kind: str, name: str) -> None:
    """What the worker does to an operation it applied: claim, then hand over."""
    claimed = operations.claim(conn, op.id, owner="test-worker", lease_seconds=60)
    assert claimed is not None, f"operation {op.id} not claimable"
    assert operations.mark_waiting(conn, op.id, owner="test-worker", k8s_kind=kind, k8s_name=name)


def created_database(
    conn: Connection, principal: Principal, name: str = "orders", **overrides: Any
) -> DatabaseRecord:
    """A database whose create operation succeeded (the cluster side is up to the test)."""
    from services.control import outcomes

    record, op = new_database(conn, principal, name, **overrides)
    to_waiting(conn, op, kind="Postgres", name=name)
    assert outcomes.succeed_operation(conn, op.id, actor="test") is not None
    return record

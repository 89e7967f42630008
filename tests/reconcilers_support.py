"""Builders shared by the reconciler tests: rows, snapshots and CRs as KubeDB shapes them."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any

from services.domain import manifests, specs
from services.domain.records import DatabaseRecord, OperationRecord
from services.domain.snapshots import DatabaseSnapshot

NOW = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)


def record(**overrides: Any) -> DatabaseRecord:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "project_id": "acme",
        "name": "orders",
        "engine": "postgres",
        "version": "16.13",
        "replicas": 3,
        "storage": "10Gi",
        "cpu": None,
        "memory": None,
        "deletion_policy": "Delete",
        "drift_policy": "correct",
        "generation": 1,
        "state": "ready",
        "phase": None,
        "observed_generation": None,
        "observed_spec": None,
        "endpoint": None,
        "conditions": [],
        "status_message": None,
        "synced_at": None,
        "created_at": NOW,
        "updated_at": NOW,
        "deleted_at": None,
    }
    values.update(overrides)
    return DatabaseRecord(**values)


def snapshot(
    rec: DatabaseRecord | None = None,
    *,
    open_operations: tuple[str, ...] = (),
    last_create: str | None = "succeeded",
    namespace: str = "dbaas-acme",
) -> DatabaseSnapshot:
    return DatabaseSnapshot(
        record=rec or record(),
        namespace=namespace,
        last_create=last_create,
        open_operations=open_operations,
    )


def operation(database_id: uuid.UUID, type: str, **overrides: Any) -> OperationRecord:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "seq": 1,
        "database_id": database_id,
        "project_id": "acme",
        "type": type,
        "state": "waiting",
        "origin": "api",
        "params": {},
        "previous": {},
        "generation": 1,
        "k8s_kind": None,
        "k8s_name": None,
        "attempt": 1,
        "lease_owner": None,
        "lease_expires_at": None,
        "error": None,
        "requested_by": "key:test",
        "created_at": NOW,
        "updated_at": NOW,
        "started_at": NOW,
        "finished_at": None,
        "enqueued_at": None,
    }
    values.update(overrides)
    return OperationRecord(**values)


def cr_for(
    snap: DatabaseSnapshot,
    *,
    phase: str | None = "Ready",
    generation: int = 1,
    observed_generation: int = 1,
    **spec_changes: Any,
) -> dict[str, Any]:
    """The CR `render_database` makes for the snapshot's desired spec, as KubeDB reports it."""
    rec = snap.record
    columns = {field: getattr(rec, field) for field in specs.DatabaseSpec.__dataclass_fields__}
    columns.update(spec_changes)
    cr = manifests.render_database(
        specs.DatabaseSpec.from_columns(columns),
        namespace=snap.namespace,
        database_id=rec.id,
        project_id=rec.project_id,
        generation=rec.generation,
    )
    cr["metadata"].update(
        {"generation": generation, "resourceVersion": "1", "uid": str(uuid.uuid4())}
    )
    if phase is not None:
        cr["status"] = {
            "phase": phase,
            "observedGeneration": observed_generation,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if phase == "Ready" else "False",
                    "reason": "ReadinessCheckSucceeded",
                    "message": f"database is {phase}",
                },
            ],
        }
    return cr


def ops_request(
    op: OperationRecord, *, phase: str | None, conditions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "ops.kubedb.com/v1alpha1",
        "kind": "PostgresOpsRequest",
        "metadata": {
            "name": f"orders-{op.type}-{str(op.id)[:8]}",
            "namespace": "dbaas-acme",
            "resourceVersion": "7",
            "labels": {
                manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY,
                manifests.LABEL_DATABASE_ID: str(op.database_id),
                manifests.LABEL_OPERATION_ID: str(op.id),
            },
        },
        "spec": {"type": "HorizontalScaling", "databaseRef": {"name": "orders"}},
    }
    if phase is not None:
        obj["status"] = {"phase": phase, "conditions": copy.deepcopy(conditions or [])}
    return obj

"""Decide, purely, the one Kubernetes write that carries out a claimed operation.

The worker observes (claims the operation, reads its database row), calls `plan_step` here,
then applies the step (`applying`). Every step is idempotent by construction: objects get
deterministic names (the database name; `naming.ops_request_name` for OpsRequests) and a
label that proves an existing object is ours, so a re-run meets AlreadyExists instead of
making a second object. This module never does I/O.

What each operation type renders:
- create: the DB CR from the operation's params (the spec as it was asked for; later
  changes have their own operations), so a re-run never absorbs a later PATCH.
- scale/resize/expand/upgrade/restart: the OpsRequest, rendered against the spec *before*
  this operation (desired row overlaid with the operation's `previous` values).
- configure: a merge patch of the CR's `spec.deletionPolicy`; completes at once.
- delete: delete the CR; KubeDB removes it when its finalizer is done.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from services.domain import manifests, naming
from services.domain.planning import OperationType
from services.domain.records import DESIRED_FIELDS, DatabaseRecord, OperationRecord
from services.domain.resources import Resource, database_resource, ops_request_resource
from services.domain.specs import DatabaseSpec

OPS_REQUEST_TYPES = frozenset(naming.OPS_NAME_WORDS)


class Action(str, Enum):
    CREATE_DATABASE = "create-database"
    CREATE_OPS_REQUEST = "create-ops-request"
    PATCH_DELETION_POLICY = "patch-deletion-policy"
    DELETE_DATABASE = "delete-database"


@dataclasses.dataclass(frozen=True)
class Step:
    action: Action
    resource: Resource
    namespace: str
    name: str
    body: dict[str, Any] | None
    """The manifest to create or the merge patch; None for a deletion."""
    owner_label: str
    owner_value: str
    """The label (and its value) an existing object of this name carries when it is ours."""

    @property
    def kind(self) -> str:
        return self.resource.kind

    def describe(self) -> str:
        verb = {
            Action.CREATE_DATABASE: "creating",
            Action.CREATE_OPS_REQUEST: "creating",
            Action.PATCH_DELETION_POLICY: "patching deletionPolicy of",
            Action.DELETE_DATABASE: "deleting",
        }[self.action]
        return f"{verb} {self.kind} {self.namespace}/{self.name}"


def _spec(database: DatabaseRecord, overlay: dict[str, Any]) -> DatabaseSpec:
    # the columns DatabaseSpec reads, not dataclasses.asdict: that deep-copies every column
    columns = {"name": database.name, "engine": database.engine, **database.desired()}
    columns.update({k: v for k, v in overlay.items() if k in DESIRED_FIELDS})
    return DatabaseSpec.from_columns(columns)


def plan_step(op: OperationRecord, database: DatabaseRecord, *, namespace: str) -> Step:
    """The write for `op`; raises ValueError when the stored data cannot be rendered."""
    db_resource = database_resource(database.engine)
    db_id = str(database.id)
    if op.type == OperationType.CREATE:
        body = manifests.render_database(
            _spec(database, op.params),
            namespace=namespace,
            database_id=database.id,
            project_id=database.project_id,
            generation=op.generation,
        )
        return Step(
            Action.CREATE_DATABASE,
            db_resource,
            namespace,
            database.name,
            body,
            manifests.LABEL_DATABASE_ID,
            db_id,
        )
    if op.type in OPS_REQUEST_TYPES:
        name = naming.ops_request_name(database.name, op.id, op.type)
        body = manifests.render_ops_request(
            _spec(database, op.previous),
            op.type,
            op.params,
            namespace=namespace,
            name=name,
            database_id=database.id,
            operation_id=op.id,
            project_id=database.project_id,
        )
        return Step(
            Action.CREATE_OPS_REQUEST,
            ops_request_resource(database.engine),
            namespace,
            name,
            body,
            manifests.LABEL_OPERATION_ID,
            str(op.id),
        )
    if op.type == OperationType.CONFIGURE:
        policy = op.params.get("deletion_policy")
        if not isinstance(policy, str) or not policy:
            raise ValueError(f"params['deletion_policy'] must be a policy name, got {policy!r}")
        patch = {"spec": {"deletionPolicy": policy}}
        return Step(
            Action.PATCH_DELETION_POLICY,
            db_resource,
            namespace,
            database.name,
            patch,
            manifests.LABEL_DATABASE_ID,
            db_id,
        )
    if op.type == OperationType.DELETE:
        return Step(
            Action.DELETE_DATABASE,
            db_resource,
            namespace,
            database.name,
            None,
            manifests.LABEL_DATABASE_ID,
            db_id,
        )
    raise ValueError(f"unknown operation type {op.type!r}")

"""Turn a change of desired spec into the ordered list of operations that carry it out.

Why: one accepted PATCH may change several things at once (storage, cpu, replicas, version),
but KubeDB takes one change per OpsRequest, and the operations of a database run one at a
time in order. This module decides, purely, which operations a change needs and in which
order; the API writes them as operation rows in the same transaction as the spec.

Order (fixed): configure, backup_policy, expand, resize, scale, upgrade.
- `configure` (deletion policy) first: a plain field edit of the DB CR (no OpsRequest; KubeDB
  lets `spec.deletionPolicy` be edited directly), it takes effect at once, and a protective
  change (DoNotTerminate) must not wait behind a long operation.
- `backup_policy` next: it writes only KubeStash objects (and the CR's archiver
  reference), takes effect at once, and a schedule should not wait behind a long resize.
- `expand` (VolumeExpansion) before `scale`: new members' PVCs are then created at the new
  size instead of being expanded one more time.
- `resize` (VerticalScaling) before `scale`: only the existing pods roll, and new members
  start with the new resources.
- `upgrade` (UpdateVersion) last: it is the riskiest and least reversible step, so it runs
  once capacity is settled, and a failed upgrade leaves the capacity changes in place.

`drift_policy` is control-plane-only (it tells the drift reconciler whether to correct or
only report) and needs no operation. This module never does I/O.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import TYPE_CHECKING, Any

from services.domain import quantities

if TYPE_CHECKING:
    from services.domain.specs import DatabaseSpec


class OperationType(str, Enum):
    CREATE = "create"
    SCALE = "scale"
    RESIZE = "resize"
    EXPAND = "expand"
    UPGRADE = "upgrade"
    RESTART = "restart"
    DELETE = "delete"
    CONFIGURE = "configure"  # edit a plain field of the DB CR (deletionPolicy), no OpsRequest
    BACKUP = "backup"  # an on-demand KubeStash BackupSession (services/control/backups.py)
    RESTORE = "restore"  # create a database from a backup or a point in time (`restores`)
    BACKUP_POLICY = "backup_policy"  # the scheduled-backup objects follow the `backup` field

    def __str__(self) -> str:
        return self.value


CREATING_TYPES: frozenset[OperationType] = frozenset({OperationType.CREATE, OperationType.RESTORE})
"""The operations that bring a database into being: a failed one leaves it `failed`, a
cancelled one deletes its row, and while one is open the database is `creating`."""


# Operations that the worker carries out with an OpsRequest.
OPS_REQUEST_TYPES: frozenset[OperationType] = frozenset(
    {
        OperationType.SCALE,
        OperationType.RESIZE,
        OperationType.EXPAND,
        OperationType.UPGRADE,
        OperationType.RESTART,
    }
)

PLAN_ORDER: tuple[OperationType, ...] = (
    OperationType.CONFIGURE,
    OperationType.BACKUP_POLICY,
    OperationType.EXPAND,
    OperationType.RESIZE,
    OperationType.SCALE,
    OperationType.UPGRADE,
)


@dataclasses.dataclass(frozen=True)
class PlannedOperation:
    """An operation to record: its type, the target values, and the values it replaces.

    `params` and `previous` are JSON-ready dicts (the `operations.params` and
    `operations.previous` columns); `previous` is what a failure rolls the desired spec
    back to.
    """

    type: OperationType
    params: dict[str, Any]
    previous: dict[str, Any]


def plan_operations(current: DatabaseSpec, new: DatabaseSpec) -> list[PlannedOperation]:
    """One operation per kind of change from `current` to `new`, in `PLAN_ORDER`.

    Values equal by quantity ("1Gi" vs "1024Mi") are not changes.
    """
    planned: list[PlannedOperation] = []
    if new.deletion_policy != current.deletion_policy:
        planned.append(
            PlannedOperation(
                OperationType.CONFIGURE,
                {"deletion_policy": new.deletion_policy},
                {"deletion_policy": current.deletion_policy},
            )
        )
    if new.backup != current.backup:
        planned.append(plan_backup_policy(new, previous=current))
    if not quantities.same_quantity(new.storage, current.storage):
        planned.append(
            PlannedOperation(
                OperationType.EXPAND, {"storage": new.storage}, {"storage": current.storage}
            )
        )
    if not (
        quantities.same_quantity(new.cpu, current.cpu)
        and quantities.same_quantity(new.memory, current.memory)
    ):
        planned.append(
            PlannedOperation(
                OperationType.RESIZE,
                {"cpu": new.cpu, "memory": new.memory},
                {"cpu": current.cpu, "memory": current.memory},
            )
        )
    if new.replicas != current.replicas:
        planned.append(
            PlannedOperation(
                OperationType.SCALE, {"replicas": new.replicas}, {"replicas": current.replicas}
            )
        )
    if new.version != current.version:
        planned.append(
            PlannedOperation(
                OperationType.UPGRADE, {"version": new.version}, {"version": current.version}
            )
        )
    return planned


def plan_create(spec: DatabaseSpec) -> PlannedOperation:
    """The operation that creates the DB CR; `params` is the whole desired spec."""
    return PlannedOperation(OperationType.CREATE, spec.columns(), {})


def plan_backup_policy(spec: DatabaseSpec, *, previous: DatabaseSpec | None) -> PlannedOperation:
    """Make the cluster's scheduled-backup objects follow `spec.backup` (null: pause them).
    `previous` None: at creation; a failure then rolls the field back to null."""
    return PlannedOperation(
        OperationType.BACKUP_POLICY,
        {"backup": _public_backup(spec)},
        {"backup": None if previous is None else _public_backup(previous)},
    )


def _public_backup(spec: DatabaseSpec) -> dict[str, Any] | None:
    return None if spec.backup is None else spec.backup.public()


def plan_restart() -> PlannedOperation:
    return PlannedOperation(OperationType.RESTART, {}, {})


def plan_delete(spec: DatabaseSpec) -> PlannedOperation:
    """Delete the DB CR; KubeDB then applies the deletion policy recorded here."""
    return PlannedOperation(
        OperationType.DELETE, {"deletion_policy": spec.deletion_policy}, spec.columns()
    )

"""How operations end: succeeded, failed or cancelled, and what that does to the database.

Failure policy (documented in the README): when an operation fails, the operations queued
behind it for the same database are cancelled, and the desired spec is rolled back to the
values before the failed operation, so desired never claims what the cluster refused and
drift does not retry a change that cannot be made. The user re-submits after reading the
error. A failed `create` leaves the database in state `failed`.

Cancelling a pending operation rolls back its own fields, unless a later open operation
changes the same field (that one then inherits the older `previous` value).

Each of these transactions locks the operation's database row before the operation
(`store.databases.LOCK_ORDER`), as the API's use cases do: an operation ending while a
request changes its database waits, it never deadlocks.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.clients.postgres import Connection
from services.control import errors
from services.domain.planning import CREATING_TYPES, OperationType
from services.domain.records import DESIRED_FIELDS, OperationRecord, OperationState, Principal
from services.store import backups, databases, events, operations


def _lock_database_of(conn: Connection, operation_id: uuid.UUID) -> OperationRecord | None:
    """The operation as it is before its database row is locked (step 2 of the lock order,
    before the operation's own row). None when there is no such operation."""
    op = operations.get(conn, operation_id)
    if op is not None:
        databases.lock(conn, op.database_id)
    return op


def _rollback(
    conn: Connection, database_id: uuid.UUID, ops_newest_first: list[OperationRecord]
) -> None:
    restore: dict[str, Any] = {}
    for op in ops_newest_first:
        restore.update({k: v for k, v in op.previous.items() if k in DESIRED_FIELDS})
    record = databases.get_by_id(conn, database_id)
    if record is None:
        return
    changes = {k: v for k, v in restore.items() if getattr(record, k) != v}
    if changes:
        databases.update_desired(conn, database_id, changes=changes, state=None)


def _settled_state(conn: Connection, database_id: uuid.UUID) -> str:
    record = databases.get_by_id(conn, database_id)
    if record is None or record.phase is None:
        return "creating"
    return "ready" if record.phase == "Ready" else "degraded"


def fail_operation(
    conn: Connection,
    operation_id: uuid.UUID,
    *,
    problem: dict[str, Any],
    actor: str,
    from_states: tuple[OperationState, ...] = (OperationState.RUNNING, OperationState.WAITING),
    owner: str | None = None,
) -> OperationRecord | None:
    with conn.transaction():
        if _lock_database_of(conn, operation_id) is None:
            return None
        failed = operations.finish(
            conn,
            operation_id,
            state=OperationState.FAILED,
            from_states=from_states,
            error=problem,
            owner=owner,
        )
        if failed is None:
            return None
        queued = [
            op
            for op in operations.open_for_database(conn, failed.database_id)
            if op.state == OperationState.PENDING and op.seq > failed.seq
        ]
        for op in queued:
            operations.finish(
                conn,
                op.id,
                state=OperationState.CANCELLED,
                from_states=(OperationState.PENDING,),
                error={"detail": f"cancelled because operation {failed.id} failed"},
            )
        _rollback(conn, failed.database_id, [*reversed(queued), failed])
        detail = str(problem.get("detail", problem.get("title", "")))
        backups.abandon(conn, [failed.id], f"the backup operation failed: {detail}")
        backups.abandon(conn, [op.id for op in queued], f"cancelled: operation {failed.id} failed")
        if failed.type in CREATING_TYPES:
            state = "failed"
        else:
            state = _settled_state(conn, failed.database_id)
        databases.set_state(conn, failed.database_id, state)
        events.record_for_operation(
            conn,
            failed,
            actor=actor,
            kind="operation.failed",
            message=f"{failed.type} failed: {problem.get('detail', problem.get('title', ''))}",
            details={"problem": problem, "cancelled": [str(op.id) for op in queued]},
        )
    return failed


def release_operation(
    conn: Connection,
    op: OperationRecord,
    *,
    owner: str,
    actor: str,
    reason: str,
    details: dict[str, Any],
) -> bool:
    """running → pending, to be retried by a later job (the cluster was unavailable), with
    its `operation.released` event; False when `owner` no longer holds the lease."""
    with conn.transaction():
        if not operations.release(conn, op.id, owner=owner):
            return False
        events.record_for_operation(
            conn,
            op,
            actor=actor,
            kind="operation.released",
            message=f"{op.type}: Kubernetes unavailable, will retry ({reason})",
            details=details,
        )
    return True


def succeed_operation(
    conn: Connection, operation_id: uuid.UUID, *, actor: str
) -> OperationRecord | None:
    with conn.transaction():
        if _lock_database_of(conn, operation_id) is None:
            return None
        done = operations.finish(
            conn,
            operation_id,
            state=OperationState.SUCCEEDED,
            from_states=(OperationState.WAITING,),
        )
        if done is None:
            return None
        if done.type == OperationType.DELETE:
            databases.set_state(conn, done.database_id, "deleted")
        events.record_for_operation(
            conn,
            done,
            actor=actor,
            kind="operation.succeeded",
            message=f"{done.type} succeeded",
        )
    return done


def cancel_operation(
    conn: Connection, principal: Principal, operation_id: uuid.UUID
) -> OperationRecord:
    with conn.transaction():
        op = operations.get(conn, operation_id, project_id=principal.project_id)
        if op is not None:
            databases.lock(conn, op.database_id)
            op = operations.get(conn, operation_id)  # as it is under the lock
        if op is None:
            raise errors.NotFound(f"operation {operation_id} not found")
        if op.state != OperationState.PENDING:
            raise errors.OperationNotCancellable(
                f"operation {op.id} is {op.state}; only pending operations can be cancelled",
                state=op.state,
            )
        cancelled = operations.finish(
            conn,
            op.id,
            state=OperationState.CANCELLED,
            from_states=(OperationState.PENDING,),
            error={"detail": f"cancelled by {principal.actor}"},
        )
        if cancelled is None:  # claimed by a worker in the meantime
            raise errors.OperationNotCancellable(f"operation {op.id} has just started")
        backups.abandon(conn, [op.id], f"cancelled by {principal.actor}")
        later = [o for o in operations.open_for_database(conn, op.database_id) if o.seq > op.seq]
        if op.type in CREATING_TYPES:
            for other in later:
                operations.finish(
                    conn,
                    other.id,
                    state=OperationState.CANCELLED,
                    from_states=(OperationState.PENDING,),
                )
            backups.abandon(conn, [o.id for o in later], "cancelled with the database's creation")
            databases.set_state(conn, op.database_id, "deleted")
        elif op.type == OperationType.DELETE:
            databases.set_state(conn, op.database_id, _settled_state(conn, op.database_id))
        else:
            _hand_over_previous(conn, op, later)
        events.record_for_operation(
            conn,
            op,
            actor=principal.actor,
            kind="operation.cancelled",
            message=f"{op.type} cancelled",
        )
    return cancelled


def _hand_over_previous(
    conn: Connection, cancelled: OperationRecord, later: list[OperationRecord]
) -> None:
    """Roll back the cancelled op's fields, or pass its `previous` to a later op on that field."""
    to_restore: dict[str, Any] = {}
    for field, value in cancelled.previous.items():
        successor = next((o for o in later if field in o.previous), None)
        if successor is None:
            to_restore[field] = value
        else:
            operations.set_previous(conn, successor.id, successor.previous | {field: value})
    record = databases.get_by_id(conn, cancelled.database_id)
    if record is None:
        return
    changes = {k: v for k, v in to_restore.items() if getattr(record, k) != v}
    if changes:
        databases.update_desired(conn, cancelled.database_id, changes=changes, state=None)
    if not later:
        databases.set_state(
            conn, cancelled.database_id, _settled_state(conn, cancelled.database_id)
        )

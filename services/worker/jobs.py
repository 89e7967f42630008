"""The RQ job that carries out one operation: claim, render, apply, hand over to status-sync.

`run_operation(operation_id)` is what the queue holds (`services.clients.queue`); it runs
`execute` with the process's `Context`. The flow:

1. claim the operation (a conditional UPDATE: only the head of its database's queue, only
   when pending or its lease expired). No claim, no work: a duplicate or stale job returns
   "not claimable" and changes nothing.
2. plan the Kubernetes write (`steps`, pure) and apply it (`applying`, idempotent).
   Transient errors retry with backoff within the job (`retrying`), extending the lease;
   when they outlast the job's tries the operation is released to `pending` for the sweeper
   to dispatch again, and after `max_claims` claims it fails.
3. move the operation to `waiting` with the object's kind and name; status-sync completes
   it from what KubeDB reports. A step that completes at once (configure, a deletion of
   something already gone) succeeds here. Permanent refusals fail the operation with a
   problem detail (`problems`), applying the failure policy of `control.outcomes`.
4. after an operation ends here, enqueue the next pending operation of its database, after
   the commit.

A crash anywhere leaves the operation `running` with a lease; once it expires the sweeper
dispatches it again and the re-run meets AlreadyExists, which is success. Returns a short
outcome that the worker logs and tests assert on. Never holds a transaction open across a
Kubernetes call.

PostgreSQL costs two round trips per operation on the usual path: the claim (with the
database row and the `operation.started` event) is one statement, the hand-over (with its
event) another, each on an autocommit connection (no BEGIN/COMMIT). A pooled connection
that died since its last use fails its first call; that step runs again on a new one.

The worker's connections commit asynchronously (`synchronous_commit = off`, set once per
connection): a commit returns before its WAL is flushed, saving a disk flush per step. A
PostgreSQL crash can then lose the last fraction of a second of the worker's transitions,
never part of one and never out of order (WAL is replayed as a prefix; any later synchronous
commit, e.g. the API's, flushes them). Losing one is the crash case above: the operation is
back to pending or to an expiring lease, and the re-run meets AlreadyExists. The API and the
reconcilers keep synchronous commits: a 202 promises a durable operation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from services.clients import postgres
from services.clients import queue as queue_client
from services.clients.kube import KubeError
from services.clients.postgres import Connection
from services.control import outcomes
from services.domain.planning import OperationType
from services.domain.records import DatabaseRecord, OperationRecord, OperationState
from services.store import operations, projects
from services.worker import applying, problems, steps
from services.worker.context import Context

log = logging.getLogger(__name__)

ACTOR = "worker"
_NEEDS_PASSWORD = frozenset({OperationType.BACKUP, OperationType.BACKUP_POLICY})
"""Operations that may create a database's encryption Secret (used only when absent)."""

T = TypeVar("T")

_asynchronous_commit: weakref.WeakSet[Connection] = weakref.WeakSet()
"""Connections already switched to `synchronous_commit = off`."""

CONNECTION_TRIES = 3
"""Connections one PostgreSQL step may try: the worker's pool holds at most two, both dead
after a PostgreSQL restart; the third is a new one."""


# -- process-wide context ----------------------------------------------------------------


@dataclasses.dataclass
class _Process:
    factory: Callable[[], Context] | None = None
    context: Context | None = None
    pid: int | None = None


_process = _Process()


def configure(factory: Callable[[], Context] | None) -> None:
    """Set how this process gets its context (built on first use, again after a fork)."""
    _process.factory, _process.context, _process.pid = factory, None, None


def current_context() -> Context:
    if _process.context is None or _process.pid != os.getpid():
        if _process.factory is None:
            raise RuntimeError("the worker context is not configured (jobs.configure)")
        _process.context, _process.pid = _process.factory(), os.getpid()
    return _process.context


def shutdown() -> None:
    """Close the clients of the context this process built, if any."""
    if _process.context is not None and _process.pid == os.getpid():
        _process.context.close()
    _process.context, _process.pid = None, None


def run_operation(operation_id: str) -> str:
    """The RQ job: carry out operation `operation_id` as far as this worker can."""
    outcome = execute(current_context(), operation_id)
    log.info("%s", outcome)
    return outcome


# -- the flow ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Claimed:
    op: OperationRecord
    database: DatabaseRecord
    owner: str


class _LeaseLost(Exception):
    pass


class _Exhausted(Exception):
    def __init__(self, error: KubeError):
        super().__init__(str(error))
        self.error = error


class _DeadConnection(Exception):
    pass


@contextlib.contextmanager
def _autocommit(context: Context, *, retryable: bool) -> Iterator[Connection]:
    """A connection of the context in autocommit mode (each statement is its own
    transaction, no BEGIN/COMMIT round trips; several statements use `conn.transaction()`),
    committing asynchronously (set on its first use). A failure that leaves it broken raises
    `_DeadConnection` when `retryable`."""
    with context.connect() as conn:
        conn.autocommit = True
        try:
            if conn not in _asynchronous_commit:
                conn.execute("SET synchronous_commit = off")
                _asynchronous_commit.add(conn)
            yield conn
        except Exception as exc:
            if retryable and conn.broken:
                raise _DeadConnection() from exc
            raise
        finally:
            with contextlib.suppress(Exception):  # a broken connection refuses; it is dropped
                conn.autocommit = False


def _in_postgres(context: Context, step: Callable[[Connection], T]) -> T:
    """`step(conn)`, again on another connection while the one it got turns out dead: the
    pool does not ping on checkout, so a PostgreSQL restart shows here. Every step is safe to
    repeat (conditional UPDATEs; a lost reply of a committed step makes the repeat a no-op),
    and one PostgreSQL rolled back as a deadlock victim runs again (`retry_conflicts`)."""
    return postgres.retry_conflicts(lambda: _on_a_live_connection(context, step))


def _on_a_live_connection(context: Context, step: Callable[[Connection], T]) -> T:
    for try_number in range(1, CONNECTION_TRIES + 1):
        try:
            with _autocommit(context, retryable=try_number < CONNECTION_TRIES) as conn:
                return step(conn)
        except _DeadConnection as dead:
            log.warning("PostgreSQL connection lost (%s); trying another", dead.__cause__)
    raise AssertionError("the last try raises what it meets")


def execute(context: Context, operation_id: str) -> str:
    try:
        op_id = uuid.UUID(operation_id)
    except ValueError:
        return f"operation {operation_id}: not an operation id"
    owner = f"{context.worker_name}/{secrets.token_hex(4)}"
    claimed = _in_postgres(
        context, lambda conn: _claim(conn, op_id, owner=owner, lease_seconds=context.lease_seconds)
    )
    if isinstance(claimed, str):
        return claimed
    op = claimed.op
    if op.attempt > context.retry.max_claims:
        return _fail(context, claimed, problems.too_many_claims(op.attempt - 1))
    namespace = projects.namespace_for(op.project_id)
    try:
        password = secrets.token_urlsafe(32) if op.type in _NEEDS_PASSWORD else ""
        step = steps.plan_step(op, claimed.database, namespace=namespace, password=password)
    except ValueError as exc:
        return _fail(context, claimed, problems.unrenderable(exc, operation_type=op.type))
    try:
        applied = _apply_with_retries(context, claimed, step)
    except _LeaseLost:
        return f"operation {op.id}: lease lost to another worker while retrying"
    except applying.NameTaken as exc:
        return _fail(
            context, claimed, problems.name_clash(step.kind, namespace, step.name, owner=exc.owner)
        )
    except _Exhausted as exc:
        if op.attempt >= context.retry.max_claims:
            problem = problems.unavailable(exc.error, doing=step.describe(), claims=op.attempt)
            return _fail(context, claimed, problem)
        return _release(context, claimed, exc.error)
    except KubeError as error:
        return _fail(context, claimed, problems.refused(error, doing=step.describe()))
    return _hand_over(context, claimed, applied)


def _claim(
    conn: Connection, op_id: uuid.UUID, *, owner: str, lease_seconds: float
) -> _Claimed | str:
    """Claim, read the database row and record `operation.started`: one statement."""
    claimed = operations.claim_started(
        conn, op_id, owner=owner, lease_seconds=lease_seconds, actor=ACTOR
    )
    if claimed is None:
        return f"operation {op_id}: not claimable ({_why_not(conn, op_id)})"
    op, database = claimed
    return _Claimed(op, database, owner)


def _why_not(conn: Connection, op_id: uuid.UUID) -> str:
    op = operations.get(conn, op_id)
    if op is None:
        return "no such operation"
    if op.state == OperationState.RUNNING:
        return f"state running, leased to {op.lease_owner}"
    if op.state != OperationState.PENDING:
        return f"state {op.state}"
    ahead = [o for o in operations.open_for_database(conn, op.database_id) if o.id != op.id]
    blocker = next(
        (
            o
            for o in ahead
            if o.state in (OperationState.RUNNING, OperationState.WAITING) or o.seq < op.seq
        ),
        None,
    )
    if blocker is None:
        return "state pending"
    return f"pending behind operation {blocker.id} ({blocker.type}, {blocker.state})"


def _apply_with_retries(context: Context, claimed: _Claimed, step: steps.Step) -> applying.Applied:
    policy = context.retry
    for try_number in range(1, policy.tries + 1):
        if try_number > 1:
            delay = policy.delay(try_number - 1, context.random)
            extend = functools.partial(
                operations.extend_lease,
                operation_id=claimed.op.id,
                owner=claimed.owner,
                lease_seconds=context.lease_seconds + delay,
            )
            extended = _in_postgres(context, extend)
            if not extended:
                raise _LeaseLost()
            context.sleep(delay)
        try:
            return applying.apply(context.cluster, step, namespaces=context.namespaces)
        except KubeError as kube_error:
            if not kube_error.transient:
                raise
            error = kube_error
        log.warning(
            "operation %s: %s failed (try %d/%d): %s",
            claimed.op.id,
            step.describe(),
            try_number,
            policy.tries,
            error,
        )
    raise _Exhausted(error)


def _hand_over(context: Context, claimed: _Claimed, applied: applying.Applied) -> str:
    op = claimed.op

    def mark_waiting(conn: Connection) -> bool:
        waiting = operations.mark_waiting_recorded(
            conn,
            op.id,
            owner=claimed.owner,
            k8s_kind=applied.kind,
            k8s_name=applied.name,
            actor=ACTOR,
            kind="operation.applied",
            message=f"{op.type}: {applied.kind} {applied.name} {applied.result}",
            details={"kind": applied.kind, "name": applied.name, "result": applied.result},
        )
        if waiting and applied.done:
            outcomes.succeed_operation(conn, op.id, actor=ACTOR)
        return waiting

    def mark_waiting_and_done(conn: Connection) -> bool:
        with conn.transaction():
            return mark_waiting(conn)

    if not _in_postgres(context, mark_waiting_and_done if applied.done else mark_waiting):
        return f"operation {op.id}: lease lost to another worker before waiting"
    if not applied.done:
        return f"operation {op.id}: waiting ({applied.kind} {applied.name}, {applied.result})"
    return (
        f"operation {op.id}: succeeded ({applied.kind} {applied.name} {applied.result})"
        + _dispatch_next(context, op.database_id)
    )


def _fail(context: Context, claimed: _Claimed, problem: dict[str, Any]) -> str:
    op = claimed.op
    failed = _in_postgres(
        context,
        lambda conn: outcomes.fail_operation(
            conn,
            op.id,
            problem=problem,
            actor=ACTOR,
            from_states=(OperationState.RUNNING,),
            owner=claimed.owner,
        ),
    )
    if failed is None:
        return f"operation {op.id}: lease lost to another worker before failing"
    return f"operation {op.id}: failed ({problem['type']}: {problem['detail']})" + _dispatch_next(
        context, op.database_id
    )


def _release(context: Context, claimed: _Claimed, error: KubeError) -> str:
    op = claimed.op

    def release(conn: Connection) -> bool:
        return outcomes.release_operation(
            conn,
            op,
            owner=claimed.owner,
            actor=ACTOR,
            reason=str(error),
            details={"attempt": op.attempt, "status": error.status, "reason": error.reason},
        )

    if not _in_postgres(context, release):
        return f"operation {op.id}: lease lost to another worker before releasing"
    return (
        f"operation {op.id}: released after {context.retry.tries} transient errors "
        f"(claim {op.attempt}/{context.retry.max_claims}): {error}"
    )


def _dispatch_next(context: Context, database_id: uuid.UUID) -> str:
    """Enqueue the database's next pending operation; the sweeper covers a lost enqueue."""

    def dispatch(conn: Connection) -> str:
        head = operations.head_pending(conn, database_id)
        if head is None:
            return ""
        try:
            queue_client.enqueue_operations(context.queue, [head.id])
        except queue_client.QueueError as exc:
            log.warning("operation %s: enqueue failed, the sweeper will: %s", head.id, exc)
            return f"; next {head.id} left to the sweeper"
        operations.mark_enqueued(conn, [head.id])
        return f"; next {head.id} enqueued"

    return _in_postgres(context, dispatch)

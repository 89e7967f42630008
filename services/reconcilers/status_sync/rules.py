"""status-sync's decisions, made purely on frozen snapshots: when an operation ends, and
what the status columns of a database should say.

Why: both questions are level-triggered (they look at the latest state, not at which event
arrived), so a duplicate event, a missed one recovered by a re-list, or a second replica
always reaches the same answer. The loop (`status_sync`) observes, calls these, and applies.
Nothing here does I/O or reads a clock.

When a waiting operation ends (KUBEDB-API.md §1.4, §2.4, §2.5):
- create: the CR is Ready and KubeDB has caught up (`observedGeneration >= generation`).
- configure: the CR states the new deletion policy.
- delete: the CR is gone (absent from a complete view of the cluster).
- restore: the CR is Ready (KubeDB makes a database that waits for its data Ready only
  after `DataRestored=True`) and caught up; it fails with KubeStash's reason when the CR
  says `DataRestored=False` or its RestoreSession Failed, or is Invalid (KubeDB would leave
  the database DataRestoring for ever: KUBESTASH-API.md §3).
- OpsRequest types: `Successful` succeeds (once the CR shows the new values, or after a
  grace period: KubeDB writes them back after the request succeeds); `Failed`/`Denied`
  fail with the reason and message of the deciding condition; `Skipped` fails as
  superseded; an OpsRequest missing for longer than a grace period fails as vanished.
- any type: still not ended `timeout_seconds` after the operation first started fails as
  timed out, naming what KubeDB shows (a CR never Ready, an OpsRequest stuck Progressing, a
  deletion held by a finalizer); KUBEDB-API.md §6 asks for this watchdog on top of the
  OpsRequests' own `spec.timeout`, which bounds each step, not the whole.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from services.domain import lifecycle, snapshots
from services.domain.backup_readings import ObservedRestore
from services.domain.backups import BackupRecord, BackupState
from services.domain.planning import OperationType
from services.domain.records import OperationRecord, OperationState
from services.domain.snapshots import DatabaseSnapshot, ObservedStatus
from services.reconcilers import cr_readings

OPS_REQUEST_TYPES = frozenset({"scale", "resize", "expand", "upgrade", "restart"})
WRITE_BACK_GRACE_SECONDS = 30.0
"""How long a Successful OpsRequest may wait for KubeDB to write its values into the CR."""
VANISHED_GRACE_SECONDS = 120.0
"""How long a waiting operation's OpsRequest may be missing before the operation fails."""
MISSING_CR_MESSAGE = "the database resource does not exist in the cluster"
DATA_RESTORED = "DataRestored"
"""The condition KubeDB's restore initializer writes on a restored database (§3)."""


@dataclasses.dataclass(frozen=True)
class Succeed:
    operation_id: uuid.UUID
    why: str


@dataclasses.dataclass(frozen=True)
class Fail:
    operation_id: uuid.UUID
    problem: dict[str, Any]


Completion = Succeed | Fail


@dataclasses.dataclass(frozen=True)
class OpsView:
    """What status-sync knows of a waiting operation's Kubernetes side."""

    database: cr_readings.ObservedDatabase | None
    ops_request: cr_readings.OpsVerdict | None
    ops_request_name: str | None
    synced: bool
    """The view of the cluster is complete (initial lists done), so absence means gone."""
    successful_for: float | None
    """Seconds since the OpsRequest was first seen Successful."""
    missing_for: float | None
    """Seconds since the OpsRequest was first seen missing from a complete view."""
    running_for: float | None = None
    """Seconds since the operation first started (its first claim by a worker)."""
    backup: BackupRecord | None = None
    """A `backup` operation's backup row, as status-sync recorded it from KubeStash."""
    restore: ObservedRestore | None = None
    """A `restore` operation's RestoreSession (none for a point-in-time recovery)."""


def decide_completion(
    op: OperationRecord, view: OpsView, *, timeout_seconds: float | None = None
) -> Completion | None:
    """Whether the waiting operation `op` has ended, and how; None while KubeDB works (and,
    with `timeout_seconds`, for at most that long after it started)."""
    decided = _completion(op, view)
    if decided is not None or timeout_seconds is None or view.running_for is None:
        return decided
    if view.running_for >= timeout_seconds:
        return Fail(op.id, _timed_out(op, view, timeout_seconds))
    return None


def _completion(op: OperationRecord, view: OpsView) -> Completion | None:
    database = view.database
    if op.type == OperationType.CREATE:
        if database is not None and database.phase == "Ready" and database.caught_up:
            return Succeed(op.id, f"{database.name} is Ready")
        return None
    if op.type == OperationType.CONFIGURE:
        wanted = op.params.get("deletion_policy")
        if database is not None and database.spec.get("deletion_policy") == wanted:
            return Succeed(op.id, f"deletionPolicy is {wanted}")
        return None
    if op.type == OperationType.DELETE:
        if view.synced and database is None:
            return Succeed(op.id, "the database resource is gone")
        return None
    if op.type in OPS_REQUEST_TYPES:
        return _ops_request_completion(op, view)
    if op.type == OperationType.BACKUP:
        return _backup_completion(op, view.backup)
    if op.type == OperationType.RESTORE:
        return _restore_completion(op, view)
    return None


def _restore_completion(op: OperationRecord, view: OpsView) -> Completion | None:
    """KubeDB writes `DataRestored=False` from the RestoreSession's failure, whose reason
    (the component's error) is the one worth showing: while the view holds the session not
    yet failed, wait for its event. Without a session (a point-in-time recovery, or one
    deleted before it finished) the condition's message is all there is."""
    database, session = view.database, view.restore
    restored = None
    if database is not None:
        restored = next((c for c in database.condition_facts if c.type == DATA_RESTORED), None)
    if session is not None and session.failed:
        why = f"RestoreSession {session.name} {session.phase}: {session.error}"
        return Fail(op.id, _restore_failed(session, why))
    if database is not None and restored is not None and restored.status == "False":
        if session is not None:
            return None
        reason = restored.message or restored.reason or "no reason given"
        return Fail(op.id, _restore_failed(None, f"{database.name}: {reason}"))
    if database is not None and database.phase == "Ready" and database.caught_up:
        source = str((op.params.get("restore") or {}).get("source_name") or "?")
        return Succeed(op.id, f"{database.name} restored from {source} and Ready")
    return None


def _restore_failed(session: ObservedRestore | None, detail: str) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": "kubestash-restore-failed",
        "title": "KubeStash could not restore the data",
        "status": 422,
        "detail": f"restore failed: {detail}",
    }
    if session is not None:
        problem["restore_session"] = session.name
    return problem


def _backup_completion(op: OperationRecord, backup: BackupRecord | None) -> Completion | None:
    """A backup operation ends with its backup: the Snapshot's outcome (KUBESTASH-API.md §4)."""
    if backup is None or not backup.state.is_terminal:
        return None
    name = backup.backup_session or op.k8s_name or "?"
    if backup.state is BackupState.SUCCEEDED:
        return Succeed(op.id, f"BackupSession {name}: Snapshot {backup.snapshot} Succeeded")
    return Fail(
        op.id,
        {
            "type": "kubestash-backup-failed",
            "title": "KubeStash could not take the backup",
            "status": 422,
            "detail": f"BackupSession {name} failed: {backup.error or 'no reason given'}",
            "backup_id": str(backup.id),
        },
    )


def _ops_request_completion(op: OperationRecord, view: OpsView) -> Completion | None:
    verdict = view.ops_request
    name = view.ops_request_name or op.k8s_name or "?"
    kind = op.k8s_kind or "OpsRequest"
    if verdict is None:
        if view.missing_for is not None and view.missing_for >= VANISHED_GRACE_SECONDS:
            return Fail(op.id, _vanished(kind, name))
        return None
    if verdict.phase in cr_readings.OPS_SUCCEEDED:
        if op.type == OperationType.RESTART or _written_back(op, view.database):
            return Succeed(op.id, f"{kind} {name} Successful")
        if view.successful_for is not None and view.successful_for >= WRITE_BACK_GRACE_SECONDS:
            return Succeed(op.id, f"{kind} {name} Successful (values not written back)")
        return None
    if verdict.phase in cr_readings.OPS_FAILED:
        return Fail(op.id, _failed(kind, name, verdict))
    if verdict.phase in cr_readings.OPS_SUPERSEDED:
        return Fail(op.id, _superseded(kind, name, verdict))
    return None


def _written_back(op: OperationRecord, database: cr_readings.ObservedDatabase | None) -> bool:
    """The CR states the operation's target values and KubeDB has processed it."""
    if database is None or not database.caught_up:
        return False
    wanted = {field: value for field, value in op.params.items()}
    differences = lifecycle.spec_differences(wanted, database.spec)
    return not any(field in wanted for field in differences)


def _failed(kind: str, name: str, verdict: cr_readings.OpsVerdict) -> dict[str, Any]:
    reason = verdict.reason or verdict.phase or "Failed"
    message = verdict.message or "no message"
    return {
        "type": "kubedb-ops-failed",
        "title": "KubeDB could not carry out the operation",
        "status": 422,
        "detail": f"{kind} {name} {verdict.phase}: {reason}: {message}",
        "kubedb": {"phase": verdict.phase, "reason": reason, "message": verdict.message},
    }


def _superseded(kind: str, name: str, verdict: cr_readings.OpsVerdict) -> dict[str, Any]:
    return {
        "type": "kubedb-ops-superseded",
        "title": "KubeDB skipped the operation: a newer request superseded it",
        "status": 409,
        "detail": f"{kind} {name} Skipped: superseded ({verdict.message or 'no message'})",
        "kubedb": {"phase": verdict.phase, "reason": verdict.reason, "message": verdict.message},
    }


def _vanished(kind: str, name: str) -> dict[str, Any]:
    return {
        "type": "kubedb-ops-vanished",
        "title": "The operation's OpsRequest disappeared from the cluster",
        "status": 410,
        "detail": f"{kind} {name} was deleted before it finished",
    }


def _timed_out(op: OperationRecord, view: OpsView, timeout_seconds: float) -> dict[str, Any]:
    database = view.database
    if op.type in OPS_REQUEST_TYPES:
        name = view.ops_request_name or op.k8s_name or "?"
        phase = view.ops_request.phase if view.ops_request is not None else None
        shows = f"{op.k8s_kind or 'OpsRequest'} {name} is {phase or 'without a phase'}"
    elif database is None:
        shows = MISSING_CR_MESSAGE
    else:
        shows = f"{database.name} is {database.phase or 'without a phase'}"
        if database.terminating:
            shows += ", terminating (a finalizer holds it)"
        message = cr_readings.message_of(database.condition_facts)
        if message:
            shows += f": {message}"
    return {
        "type": "operation-timed-out",
        "title": "KubeDB did not finish the operation in time",
        "status": 504,
        "detail": f"{op.type} not finished {timeout_seconds:.0f} s after it started; {shows}",
        "timeout_seconds": timeout_seconds,
    }


def decide_status(
    snapshot: DatabaseSnapshot, observed: cr_readings.ObservedDatabase | None
) -> ObservedStatus:
    """The status columns and lifecycle state a database should have now."""
    record = snapshot.record
    present = observed is not None and not observed.terminating
    observed_spec = observed.spec if observed is not None else None
    in_sync = not lifecycle.spec_differences(snapshots.desired_view(snapshot), observed_spec)
    state = lifecycle.derive_state(
        lifecycle.Facts(
            current=record.state,
            open_operations=snapshot.open_operations,
            last_create=snapshot.last_create,
            cr_present=present,
            phase=observed.phase if observed is not None else None,
            in_sync=in_sync,
        )
    )
    generation = lifecycle.observed_generation(
        generation=record.generation,
        prior=record.observed_generation,
        open_operations=snapshot.open_operations,
        in_sync=in_sync,
        cr_caught_up=observed is not None and observed.caught_up,
    )
    if observed is None:
        return ObservedStatus(
            phase=None,
            observed_spec=None,
            observed_generation=generation,
            endpoint=None,
            conditions=[],
            status_message=MISSING_CR_MESSAGE
            if snapshot.last_create == OperationState.SUCCEEDED
            else None,
            state=state.value,
        )
    conditions = observed.condition_facts  # unpacked once for both columns
    return ObservedStatus(
        phase=observed.phase,
        observed_spec=observed.spec,
        observed_generation=generation,
        endpoint=observed.endpoint,
        conditions=[condition.as_dict() for condition in conditions],
        status_message=cr_readings.message_of(conditions),
        state=state.value,
    )

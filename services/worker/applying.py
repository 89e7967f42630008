"""Apply one planned step to the cluster, idempotently.

A re-run of a step (a retried call after a timeout, a duplicate job, a job re-dispatched after
a worker crashed) must have the effect of one run: creations that meet AlreadyExists check
the owner label and carry on; a deletion that meets NotFound is done. An object of our name
that is not ours is never touched: that is a `NameTaken` refusal.

Raises `KubeError` for everything else and leaves the retry decision to the caller; never
sleeps, never touches PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.clients.kube import KubeClient, KubeError
from services.domain import manifests, resources
from services.domain.resources import Resource
from services.worker.steps import Action, PolicyObjects, Prerequisite, Step

SESSION_TERMINAL = frozenset({"Succeeded", "Failed", "Skipped"})


@dataclasses.dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    result: str
    """What happened: created, already existed, patched, deletion requested, already gone."""
    done: bool = False
    """Complete already: nothing left for KubeDB to do, nothing for status-sync to wait for."""


class NameTaken(Exception):
    """An object with the step's deterministic name exists and is not ours."""

    def __init__(self, step: Step, owner: str | None):
        super().__init__(f"{step.kind} {step.namespace}/{step.name} exists and is not ours")
        self.step = step
        self.owner = owner


def _owner_label(obj: dict[str, Any], step: Step) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(step.owner_label)
    return None if value is None else str(value)


def _owned(obj: dict[str, Any], step: Step) -> bool:
    return _owner_label(obj, step) == step.owner_value


def _foreign_owner(obj: dict[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(manifests.LABEL_DATABASE_ID)
    return None if value is None else str(value)


def apply(cluster: KubeClient, step: Step, *, namespaces: set[str] | None = None) -> Applied:
    """Carry out `step`. `namespaces` are those known to exist (this process ensured them):
    a database created in one skips the namespace call; the set learns the ones ensured."""
    if step.action is Action.CREATE_DATABASE:
        return _create_in_namespace(cluster, step, set() if namespaces is None else namespaces)
    if step.action is Action.CREATE_OPS_REQUEST:
        return _create(cluster, step)
    if step.action is Action.CREATE_BACKUP_SESSION:
        return _create_backup_session(cluster, step)
    if step.action is Action.CREATE_RESTORE_SESSION:
        return _create_restore_session(cluster, step, set() if namespaces is None else namespaces)
    if step.action is Action.APPLY_BACKUP_POLICY:
        return _apply_backup_policy(cluster, step)
    if step.action is Action.PATCH_DELETION_POLICY:
        return _patch(cluster, step)
    return _delete(cluster, step)


def _create_in_namespace(cluster: KubeClient, step: Step, namespaces: set[str]) -> Applied:
    """Ensure the namespace unless known, then create. When the namespace was known and the
    create answers 404, it is taken for a namespace deleted since: ensure it again and create
    once more."""
    known = step.namespace in namespaces
    if not known:
        cluster.ensure_namespace(step.namespace)
        namespaces.add(step.namespace)
    try:
        return _create(cluster, step)
    except KubeError as error:
        if not (known and error.not_found):
            raise
    namespaces.discard(step.namespace)
    cluster.ensure_namespace(step.namespace)
    namespaces.add(step.namespace)
    return _create(cluster, step)


def _create(cluster: KubeClient, step: Step) -> Applied:
    assert step.body is not None
    try:
        cluster.create(step.resource, step.namespace, step.body)
    except KubeError as error:
        if not (error.already_exists or _refused(error)):
            raise
        # Admission runs before the store's existence check: a re-run create of an OpsRequest
        # that already did its work (a VolumeExpansion once the storage grew) is denied by
        # KubeDB's webhook instead of meeting AlreadyExists. Ours under that name is success.
        existing = _existing(cluster, step, error)
        if not _owned(existing, step):
            raise NameTaken(step, _foreign_owner(existing)) from error
        return Applied(step.kind, step.name, "already existed")
    return Applied(step.kind, step.name, "created")


def _refused(error: KubeError) -> bool:
    return error.status in (403, 422)


def _existing(cluster: KubeClient, step: Step, refusal: KubeError) -> dict[str, Any]:
    """The object under the step's name after a create that did not happen. A denial with no
    object behind it is the denial itself."""
    try:
        return cluster.get(step.resource, step.namespace, step.name)
    except KubeError as error:
        if error.not_found and not refusal.already_exists:
            raise refusal from error
        raise


def _create_backup_session(cluster: KubeClient, step: Step) -> Applied:
    """Ensure what KubeStash needs, wait (as a transient error: the caller retries with
    backoff, then releases the operation) until the BackupConfiguration is Ready and runs no
    other session, then create the BackupSession. KubeStash would skip a session created
    earlier: its configuration not Ready, or its first backup (taken as soon as the
    configuration is Ready) still running."""
    for prerequisite in step.prerequisites:
        _ensure(cluster, step, prerequisite)
    if step.ready_first is not None and not _exists(cluster, step):
        _check_ready(cluster, step, step.ready_first)
    return _create(cluster, step)


def _create_restore_session(cluster: KubeClient, step: Step, namespaces: set[str]) -> Applied:
    """Create the database that waits for its data (when absent; one of another database
    under its name is a NameTaken), then the RestoreSession targeting it: KubeStash's
    logical restore loads into an existing database (KUBESTASH-API.md §5.5). Both names are
    deterministic, so a re-run after a crash meets AlreadyExists and creates nothing twice."""
    met = []
    for prerequisite in step.prerequisites:
        database_step = dataclasses.replace(
            step,
            action=Action.CREATE_DATABASE,
            resource=prerequisite.resource,
            name=prerequisite.name,
            body=prerequisite.body,
            owner_label=manifests.LABEL_DATABASE_ID,
            owner_value=str(_database_label(prerequisite.body)),
            prerequisites=(),
        )
        database = _create_in_namespace(cluster, database_step, namespaces)
        if database.result != "created":  # a re-run after a crash: say what it met
            met.append(f"{database.kind} {database.name} {database.result}")
    applied = _create(cluster, step)
    return dataclasses.replace(applied, result="; ".join([applied.result, *met]))


def _ensure(cluster: KubeClient, step: Step, prerequisite: Prerequisite) -> None:
    try:
        cluster.create(prerequisite.resource, step.namespace, prerequisite.body)
    except KubeError as error:
        if not error.already_exists:
            raise
        if prerequisite.resource.group:  # a Secret is read only as data (read_secret)
            existing = cluster.get(prerequisite.resource, step.namespace, prerequisite.name)
            if _foreign_owner(existing) != _database_label(prerequisite.body):
                raise NameTaken(
                    dataclasses.replace(
                        step, resource=prerequisite.resource, name=prerequisite.name
                    ),
                    _foreign_owner(existing),
                ) from error


def _exists(cluster: KubeClient, step: Step) -> bool:
    try:
        cluster.get(step.resource, step.namespace, step.name)
    except KubeError as error:
        if error.not_found:
            return False
        raise
    return True


def _check_ready(cluster: KubeClient, step: Step, configuration: str) -> None:
    bc = cluster.get(resources.BACKUP_CONFIGURATION, step.namespace, configuration)
    phase = str((bc.get("status") or {}).get("phase") or "NotReady")
    where = f"BackupConfiguration {step.namespace}/{configuration}"
    if phase == "Invalid":
        raise KubeError(422, "Invalid", f"{where} is Invalid: {_conditions(bc)}", [])
    if phase != "Ready":
        raise KubeError(503, "NotReady", f"{where} is {phase}; waiting for KubeStash", [])
    sessions, _ = cluster.list_all(resources.BACKUP_SESSION, namespace=step.namespace)
    for session in sessions:
        invoker = ((session.get("spec") or {}).get("invoker") or {}).get("name")
        session_phase = (session.get("status") or {}).get("phase")
        if invoker == configuration and session_phase not in SESSION_TERMINAL:
            name = (session.get("metadata") or {}).get("name")
            raise KubeError(503, "Busy", f"{where} is running BackupSession {name}", [])


def _conditions(obj: dict[str, Any]) -> str:
    failed = [
        str(c.get("message") or c.get("reason") or c.get("type"))
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("status") == "False"
    ]
    return "; ".join(failed) or "no reason given"


def _database_label(body: dict[str, Any]) -> str | None:
    return _foreign_owner(body)


def _patch(cluster: KubeClient, step: Step) -> Applied:
    assert step.body is not None
    existing = cluster.get(step.resource, step.namespace, step.name)
    if not _owned(existing, step):
        raise NameTaken(step, _foreign_owner(existing))
    cluster.merge_patch(step.resource, step.namespace, step.name, step.body)
    return Applied(step.kind, step.name, "patched", done=True)


def _delete(cluster: KubeClient, step: Step) -> Applied:
    for resource, name in step.companions:
        _delete_if_ours(cluster, step, resource, name)
    try:
        existing = cluster.get(step.resource, step.namespace, step.name)
        if not _owned(existing, step):
            # Someone else's object under our name (our create failed on it): not ours to delete.
            return Applied(step.kind, step.name, "already gone", done=True)
        cluster.delete(step.resource, step.namespace, step.name)
    except KubeError as error:
        if not error.not_found:
            raise
        return Applied(step.kind, step.name, "already gone", done=True)
    return Applied(step.kind, step.name, "deletion requested")


# -- backup_policy ------------------------------------------------------------------------


def _apply_backup_policy(cluster: KubeClient, step: Step) -> Applied:
    """Make the database's scheduled-backup objects follow the step's policy. Every write
    is to a state (create-or-update, suspend, delete-if-present), so a re-run after a
    crash or a timeout converges to the same objects. Order: the archiver exists before
    the CR names it, and the CR stops naming it before it is deleted (KubeDB would
    otherwise archive with an archiver that is gone)."""
    policy = step.policy
    assert policy is not None
    for prerequisite in step.prerequisites:
        _ensure(cluster, step, prerequisite)
    did: list[str] = []
    if step.body is not None:  # a policy: the schedule runs
        assert policy.retention is not None
        did.append(_upsert(cluster, step, policy.retention))
        configuration = Prerequisite(step.resource, step.name, step.body)
        did.append(_upsert(cluster, step, configuration))
    else:
        did.append(_suspend(cluster, step, policy.session))
    if policy.archiver is not None:
        did.append(_upsert(cluster, step, policy.archiver))
        did.append(_point_database_at_archiver(cluster, step, policy))
    elif policy.archiver_resource is not None:
        did.append(_point_database_at_archiver(cluster, step, policy))
        did.append(_delete_if_ours(cluster, step, policy.archiver_resource, policy.archiver_name))
    summary = ", ".join(item for item in did if item)
    return Applied(step.kind, step.name, summary or "unchanged", done=True)


def _upsert(cluster: KubeClient, step: Step, wanted: Prerequisite) -> str:
    """Create `wanted`, or make the existing one (ours) say what it says."""
    kind = wanted.resource.kind
    try:
        cluster.create(wanted.resource, step.namespace, wanted.body)
    except KubeError as error:
        if not error.already_exists:
            raise
    else:
        return f"{kind} {wanted.name} created"
    existing = cluster.get(wanted.resource, step.namespace, wanted.name)
    if _foreign_owner(existing) != _database_label(wanted.body):
        raise NameTaken(
            dataclasses.replace(step, resource=wanted.resource, name=wanted.name),
            _foreign_owner(existing),
        )
    patch = spec_patch(existing.get("spec") or {}, wanted.body.get("spec") or {})
    if not patch:
        return ""
    cluster.merge_patch(wanted.resource, step.namespace, wanted.name, {"spec": patch})
    return f"{kind} {wanted.name} updated"


def spec_patch(existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The merge patch of `spec` that turns `existing` into `wanted` at its top level
    (a key we do not want is removed; lists are replaced whole, as merge patches do);
    empty when nothing differs."""
    patch: dict[str, Any] = {key: None for key in existing if key not in wanted}
    patch.update({key: value for key, value in wanted.items() if existing.get(key) != value})
    return patch


def _suspend(cluster: KubeClient, step: Step, session: str) -> str:
    """Suspend the schedule of the BackupConfiguration's session, if it exists."""
    try:
        existing = cluster.get(step.resource, step.namespace, step.name)
    except KubeError as error:
        if error.not_found:
            return ""  # never configured: nothing is scheduled
        raise
    if _foreign_owner(existing) != step.owner_value:
        raise NameTaken(step, _foreign_owner(existing))
    sessions = [dict(s) for s in (existing.get("spec") or {}).get("sessions") or []]
    changed = False
    for entry in sessions:
        scheduler = dict(entry.get("scheduler") or {})
        if entry.get("name") == session and not scheduler.get("suspend"):
            entry["scheduler"] = scheduler | {"suspend": True}
            changed = True
    if not changed:
        return ""
    cluster.merge_patch(step.resource, step.namespace, step.name, {"spec": {"sessions": sessions}})
    return f"{step.kind} {step.name} suspended"


def _point_database_at_archiver(cluster: KubeClient, step: Step, policy: PolicyObjects) -> str:
    """Set (or clear) the CR's `spec.archiver` as the policy says, when it differs."""
    try:
        cr = cluster.get(policy.database, step.namespace, policy.database_name)
    except KubeError as error:
        if error.not_found:
            return ""  # the database is gone or not created yet: nothing to point
        raise
    if _foreign_owner(cr) != step.owner_value:
        raise NameTaken(
            dataclasses.replace(step, resource=policy.database, name=policy.database_name),
            _foreign_owner(cr),
        )
    wanted = policy.archiver_patch["spec"]["archiver"]
    current = (cr.get("spec") or {}).get("archiver")
    if wanted is None and current is None:
        return ""
    if wanted is not None and (current or {}).get("ref") == wanted["ref"]:
        return ""
    cluster.merge_patch(
        policy.database, step.namespace, policy.database_name, policy.archiver_patch
    )
    verb = "set" if wanted is not None else "cleared"
    return f"{policy.database.kind} {policy.database_name} archiver {verb}"


def _delete_if_ours(cluster: KubeClient, step: Step, resource: Resource, name: str) -> str:
    """Delete one of the database's objects when it exists and is ours."""
    try:
        existing = cluster.get(resource, step.namespace, name)
        if _foreign_owner(existing) != step.owner_value:
            return ""
        cluster.delete(resource, step.namespace, name)
    except KubeError as error:
        if error.not_found:
            return ""
        raise
    return f"{resource.kind} {name} deleted"

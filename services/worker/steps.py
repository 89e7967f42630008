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
- delete: delete the CR; KubeDB removes it when its finalizer is done. With a backup
  policy, its BackupConfiguration and archiver go too (`_scheduled_backup_objects`); the
  Repository and its Snapshots stay.
- backup: the on-demand BackupSession (named from the operation id), after what KubeStash
  needs for it when absent: the encryption Secret, the RetentionPolicy and the
  BackupConfiguration (`backup_manifests`; suspended schedule until the database has a
  backup policy), all pointing at the BackupStorage the API recorded in the params.
- restore of a backup: the database CR waiting for its data (`spec.init.waitForInitialRestore`)
  when absent, then the RestoreSession (named from the operation id) loading the backup's
  Snapshot from the source database's Repository; KubeDB makes the database Ready once the
  restore succeeded.
- restore to a point in time: the database CR with `spec.init.archiver` naming the source's
  archive (`<src>-full`, `<src>-manifest`) and the time; KubeDB recovers it, then Ready.
- backup_policy: make the scheduled-backup objects follow the policy in the operation's
  params (`PolicyObjects`): with a policy, create or update the RetentionPolicy, the
  BackupConfiguration (its schedule) and, with PITR, the archiver and the CR's reference
  to it; without one (null), suspend the BackupConfiguration's schedule (never delete it:
  KubeStash would take its Repository's snapshots' configuration with it, and on-demand
  backups still use it) and drop the archiver and the CR's reference. Completes at once.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from enum import Enum
from typing import Any

from services.domain import backup_manifests, manifests, naming, resources
from services.domain.backups import BackupPolicy, Retention
from services.domain.engines import Engine
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
    CREATE_BACKUP_SESSION = "create-backup-session"
    CREATE_RESTORE_SESSION = "create-restore-session"
    APPLY_BACKUP_POLICY = "apply-backup-policy"


@dataclasses.dataclass(frozen=True)
class Prerequisite:
    """An object a step needs first, created when absent and never changed when present."""

    resource: Resource
    name: str
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PolicyObjects:
    """What a `backup_policy` step makes true; the step's own object is the
    BackupConfiguration (`Step.body`: its whole manifest, None to suspend it)."""

    session: str
    """The BackupConfiguration's session whose schedule a pause suspends."""
    retention: Prerequisite | None
    """The RetentionPolicy to create or update; None (pause): left as it is."""
    archiver: Prerequisite | None
    """The archiver to create or update (PITR on), else to delete when it exists."""
    archiver_resource: Resource | None
    """The engine's archiver kind; None: the engine has none (Redis)."""
    archiver_name: str
    database: Resource
    database_name: str
    archiver_patch: dict[str, Any]
    """The CR's reference to the archiver, as a merge patch (null: no archiver)."""


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
    prerequisites: tuple[Prerequisite, ...] = ()
    ready_first: str | None = None
    """The BackupConfiguration that must be Ready, with no other session running, before
    the step's BackupSession is created (KubeStash skips it otherwise)."""
    policy: PolicyObjects | None = None
    """A `backup_policy` step's objects besides its BackupConfiguration."""
    companions: tuple[tuple[Resource, str], ...] = ()
    """Objects deleted with the database when they are ours: its scheduled-backup objects."""

    @property
    def kind(self) -> str:
        return self.resource.kind

    def describe(self) -> str:
        verb = {
            Action.CREATE_DATABASE: "creating",
            Action.CREATE_OPS_REQUEST: "creating",
            Action.PATCH_DELETION_POLICY: "patching deletionPolicy of",
            Action.DELETE_DATABASE: "deleting",
            Action.CREATE_BACKUP_SESSION: "creating",
            Action.CREATE_RESTORE_SESSION: "creating",
            Action.APPLY_BACKUP_POLICY: "applying the backup policy to",
        }[self.action]
        return f"{verb} {self.kind} {self.namespace}/{self.name}"


def _spec(database: DatabaseRecord, overlay: dict[str, Any]) -> DatabaseSpec:
    # the columns DatabaseSpec reads, not dataclasses.asdict: that deep-copies every column
    columns = {"name": database.name, "engine": database.engine, **database.desired()}
    columns.update({k: v for k, v in overlay.items() if k in DESIRED_FIELDS})
    return DatabaseSpec.from_columns(columns)


def plan_step(
    op: OperationRecord, database: DatabaseRecord, *, namespace: str, password: str = ""
) -> Step:
    """The write for `op`; raises ValueError when the stored data cannot be rendered.
    `password`: the Restic password of a backup's encryption Secret, used only when that
    Secret does not exist yet."""
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
            companions=_scheduled_backup_objects(database, namespace),
        )
    if op.type == OperationType.BACKUP:
        return _backup_step(op, database, namespace=namespace, password=password)
    if op.type == OperationType.RESTORE:
        return _restore_step(op, database, namespace=namespace)
    if op.type == OperationType.BACKUP_POLICY:
        return _policy_step(op, database, namespace=namespace, password=password)
    raise ValueError(f"unknown operation type {op.type!r}")


def _backup_step(
    op: OperationRecord, database: DatabaseRecord, *, namespace: str, password: str
) -> Step:
    storage = backup_manifests.parse_object_ref(str(op.params.get("storage") or ""))
    spec = _spec(database, {})
    names = backup_manifests.BackupNames(
        database.name, database.id, namespace, Engine(database.engine)
    )
    project = database.project_id
    secret = backup_manifests.render_encryption_secret(names, password=password, project_id=project)
    # Absent objects are created as the database's policy says (when it has one), so an
    # on-demand backup never creates a configuration that contradicts the schedule.
    kept = spec.backup.retention if spec.backup is not None else Retention()
    retention = backup_manifests.render_retention_policy(kept, names, project_id=project)
    configuration = backup_manifests.render_backup_configuration(
        spec, spec.backup, names, storage=storage, project_id=project
    )
    session = backup_manifests.render_backup_session(names, operation_id=op.id, project_id=project)
    return Step(
        Action.CREATE_BACKUP_SESSION,
        resources.BACKUP_SESSION,
        namespace,
        names.backup_session(op.id),
        session,
        manifests.LABEL_OPERATION_ID,
        str(op.id),
        prerequisites=(
            Prerequisite(resources.SECRET, names.encryption_secret, secret),
            Prerequisite(resources.RETENTION_POLICY, names.retention_policy, retention),
            Prerequisite(resources.BACKUP_CONFIGURATION, names.backup_configuration, configuration),
        ),
        ready_first=names.backup_configuration,
    )


def _restore_step(op: OperationRecord, database: DatabaseRecord, *, namespace: str) -> Step:
    restore = op.params.get("restore")
    if not isinstance(restore, dict):
        raise ValueError(f"params['restore'] must be an object, got {restore!r}")
    spec = _spec(database, op.params)
    source = backup_manifests.BackupNames(
        str(restore.get("source_name") or ""),
        uuid.UUID(str(restore.get("source_database_id"))),
        namespace,  # the same project: the same namespace (control.restores checked it)
        Engine(str(restore.get("source_engine"))),
    )
    cr = manifests.render_database(
        spec,
        namespace=namespace,
        database_id=database.id,
        project_id=database.project_id,
        generation=op.generation,
    )
    db_id = str(database.id)
    moment = restore.get("point_in_time")
    if moment is not None:
        body = backup_manifests.with_point_in_time_restore(
            cr, source, recovery_time=datetime.datetime.fromisoformat(str(moment))
        )
        return Step(
            Action.CREATE_DATABASE,
            database_resource(database.engine),
            namespace,
            database.name,
            body,
            manifests.LABEL_DATABASE_ID,
            db_id,
        )
    session = backup_manifests.render_restore_session(
        spec,
        source,
        namespace=namespace,
        target_id=database.id,
        snapshot=str(restore.get("snapshot") or ""),
        operation_id=op.id,
        project_id=database.project_id,
    )
    return Step(
        Action.CREATE_RESTORE_SESSION,
        resources.RESTORE_SESSION,
        namespace,
        session["metadata"]["name"],
        session,
        manifests.LABEL_OPERATION_ID,
        str(op.id),
        prerequisites=(
            Prerequisite(
                database_resource(database.engine),
                database.name,
                backup_manifests.with_initial_restore(cr),
            ),
        ),
    )


def _scheduled_backup_objects(
    database: DatabaseRecord, namespace: str
) -> tuple[tuple[Resource, str], ...]:
    """What a deleted database's schedule leaves behind: its BackupConfiguration (whose
    schedule would keep backing up a database that is gone, and whose retention runs would
    prune its snapshots) and its archiver. The Repository is `Retain`: deleting the
    configuration keeps it and every Snapshot, so the backups stay listable and restorable.
    Nothing when the database has no policy (a configuration made for on-demand backups is
    suspended: it neither runs nor prunes)."""
    if database.backup is None:
        return ()
    names = backup_manifests.BackupNames(
        database.name, database.id, namespace, Engine(database.engine)
    )
    found: list[tuple[Resource, str]] = [
        (resources.BACKUP_CONFIGURATION, names.backup_configuration)
    ]
    facts = backup_manifests.STASH[Engine(database.engine)]
    if facts.archiver_kind is not None and facts.archiver_plural is not None:
        archiver = resources.archiver_resource(facts.archiver_kind, facts.archiver_plural)
        found.append((archiver, names.archiver))
    return tuple(found)


def _policy_step(
    op: OperationRecord, database: DatabaseRecord, *, namespace: str, password: str
) -> Step:
    """The objects of the policy this operation asked for (its params, not the row: a
    later PATCH has its own operation)."""
    policy = BackupPolicy.from_public(op.params.get("backup"))
    spec = _spec(database, {})
    names = backup_manifests.BackupNames(
        database.name, database.id, namespace, Engine(database.engine)
    )
    project = database.project_id
    facts = backup_manifests.STASH[spec.engine]
    archiver_kind = None
    if facts.archiver_kind is not None and facts.archiver_plural is not None:
        archiver_kind = resources.archiver_resource(facts.archiver_kind, facts.archiver_plural)
    configuration: dict[str, Any] | None = None
    prerequisites: tuple[Prerequisite, ...] = ()
    retention = archiver = None
    if policy is not None:
        storage = backup_manifests.parse_object_ref(str(op.params.get("storage") or ""))
        secret = backup_manifests.render_encryption_secret(
            names, password=password, project_id=project
        )
        prerequisites = (Prerequisite(resources.SECRET, names.encryption_secret, secret),)
        retention = Prerequisite(
            resources.RETENTION_POLICY,
            names.retention_policy,
            backup_manifests.render_retention_policy(policy.retention, names, project_id=project),
        )
        configuration = backup_manifests.render_backup_configuration(
            spec, policy, names, storage=storage, project_id=project
        )
        if policy.pitr and archiver_kind is not None:
            archiver = Prerequisite(
                archiver_kind,
                names.archiver,
                backup_manifests.render_archiver(
                    spec, policy, names, storage=storage, project_id=project
                ),
            )
    with_archiver = archiver is not None
    return Step(
        Action.APPLY_BACKUP_POLICY,
        resources.BACKUP_CONFIGURATION,
        namespace,
        names.backup_configuration,
        configuration,
        manifests.LABEL_DATABASE_ID,
        str(database.id),
        prerequisites=prerequisites,
        policy=PolicyObjects(
            session=backup_manifests.SESSION,
            retention=retention,
            archiver=archiver,
            archiver_resource=archiver_kind,
            archiver_name=names.archiver,
            database=database_resource(database.engine),
            database_name=database.name,
            archiver_patch=backup_manifests.archiver_patch(names)
            if with_archiver
            else {"spec": {"archiver": None}},
        ),
    )

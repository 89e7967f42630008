"""Render the KubeStash (and KubeDB archiver) objects dbaas creates to back up a database.

Why: the worker applies exactly these dicts; status-sync and drift find them again by name
and label. So every name is derived deterministically from the database (name + id) or the
operation id, as `manifests` does for KubeDB objects: a retried apply meets AlreadyExists
instead of creating a second object. Facts from KUBESTASH-API.md:

- Per database, in its namespace: an encryption Secret (`RESTIC_PASSWORD`), a RetentionPolicy,
  a BackupConfiguration with one session (`logical`) whose one Repository KubeStash creates,
  all pointing at the platform's BackupStorage (a setting, `namespace/name`). The Repository
  is `deletionPolicy: Retain`: deleting the BackupConfiguration with the database keeps the
  Repository and its Snapshots (restorable later). Names carry 12 hex digits of the database
  id, so a new database reusing a name never meets the old database's Repository.
- Addon and tasks per engine (§2): `<engine>-addon`, backup `logical-backup`, restore
  `logical-backup-restore` (the KubeDB guides' logical pattern, for all four engines).
- No policy (`backup: null`): the session's CronJob is suspended; on-demand BackupSessions
  still run. KubeStash takes one backup as soon as a BackupConfiguration becomes Ready (§5.4).
- On-demand backup: a BackupSession `<bc>-<session>-<digits>` (KubeStash's Snapshot naming
  expects a trailing `-<digits>`; ours come from the operation id, so they are deterministic).
- Restore into a new database: its CR carries `spec.init.waitForInitialRestore: true` and a
  RestoreSession targets it (§3). Point in time: a KubeDB archiver per database (§6) and a
  new database with `spec.init.archiver` naming the source's `<src>-full`/`<src>-manifest`
  Repositories KubeDB created.

Every object validates against the real CRDs (tests/sim/test_backup_manifests_crd.py).
This module never does I/O and never decides whether a backup is allowed (`backups` does).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Any

from services.domain import engines, manifests, naming
from services.domain.backups import BackupPolicy, Retention
from services.domain.engines import Engine
from services.domain.specs import DatabaseSpec

STORAGE_GROUP = "storage.kubestash.com"
CORE_GROUP = "core.kubestash.com"
ADDONS_GROUP = "addons.kubestash.com"
ARCHIVER_GROUP = "archiver.kubedb.com"
KUBESTASH_VERSION = "v1alpha1"
STORAGE_API_VERSION = f"{STORAGE_GROUP}/{KUBESTASH_VERSION}"
CORE_API_VERSION = f"{CORE_GROUP}/{KUBESTASH_VERSION}"
ARCHIVER_API_VERSION = f"{ARCHIVER_GROUP}/{KUBESTASH_VERSION}"

# Labels KubeStash sets on every Snapshot (apis/constant.go), for listing one DB's snapshots.
LABEL_APP_REF_KIND = "kubestash.com/app-ref-kind"
LABEL_APP_REF_NAME = "kubestash.com/app-ref-name"
LABEL_APP_REF_NAMESPACE = "kubestash.com/app-ref-namespace"
LABEL_REPO_NAME = "kubestash.com/repo-name"

SESSION = "logical"
BACKEND = "dbaas"
ENCRYPTION_KEY = "RESTIC_PASSWORD"
DB_HEX = 12
BACKUP_TIMEOUT = "2h"
RESTORE_TIMEOUT = "2h"
SESSION_HISTORY_LIMIT = 3
FAILED_SNAPSHOTS_KEPT = 1


@dataclasses.dataclass(frozen=True)
class StashFacts:
    """What KubeDB's KubeStash catalog offers for one engine (KUBESTASH-API.md §2, §6)."""

    addon: str
    backup_task: str
    restore_task: str
    archiver_kind: str | None  # None: the engine has no continuous archiving
    archiver_plural: str | None

    @property
    def has_archiver(self) -> bool:
        return self.archiver_kind is not None


STASH: dict[Engine, StashFacts] = {
    Engine.POSTGRES: StashFacts(
        "postgres-addon",
        "logical-backup",
        "logical-backup-restore",
        "PostgresArchiver",
        "postgresarchivers",
    ),
    Engine.MYSQL: StashFacts(
        "mysql-addon", "logical-backup", "logical-backup-restore", "MySQLArchiver", "mysqlarchivers"
    ),
    Engine.MONGODB: StashFacts(
        "mongodb-addon",
        "logical-backup",
        "logical-backup-restore",
        "MongoDBArchiver",
        "mongodbarchivers",
    ),
    Engine.REDIS: StashFacts("redis-addon", "logical-backup", "logical-backup-restore", None, None),
}


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """A namespaced object: the BackupStorage setting, a Secret, a Repository."""

    namespace: str
    name: str

    def as_ref(self) -> dict[str, str]:
        return {"name": self.name, "namespace": self.namespace}

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_object_ref(text: str) -> ObjectRef:
    """`namespace/name` (the BackupStorage setting); raises ValueError naming the problem."""
    namespace, slash, name = text.partition("/")
    if not slash or not naming.is_dns_label(namespace) or not _is_subdomain(name):
        raise ValueError(
            f"{text!r} is not namespace/name (a DNS label, '/', an object name), "
            "e.g. 'dbaas-backup/s3-primary'"
        )
    return ObjectRef(namespace, name)


@dataclasses.dataclass(frozen=True)
class BackupNames:
    """The names of one database's backup objects; all in the database's namespace."""

    database: str
    database_id: uuid.UUID
    namespace: str
    engine: Engine

    @property
    def _suffix(self) -> str:
        return self.database_id.hex[:DB_HEX]

    @property
    def backup_configuration(self) -> str:
        return f"{self.database}-backup-{self._suffix}"

    @property
    def retention_policy(self) -> str:
        return f"{self.database}-retain-{self._suffix}"

    @property
    def repository(self) -> str:
        return f"{self.database}-repo-{self._suffix}"

    @property
    def encryption_secret(self) -> str:
        return f"{self.database}-restic-{self._suffix}"

    @property
    def archiver(self) -> str:
        return f"{self.database}-pitr-{self._suffix}"

    @property
    def directory(self) -> str:
        """The Repository's path inside the BackupStorage: unique per database, ever."""
        return f"/{self.namespace}/{self.database}-{self.database_id}"

    @property
    def archiver_repositories(self) -> tuple[str, str]:
        """The (full, manifest) Repositories KubeDB creates for an archived database."""
        return f"{self.database}-full", f"{self.database}-manifest"

    def backup_session(self, operation_id: uuid.UUID) -> str:
        """`<bc>-<session>-<digits>`: the digits come from the operation id."""
        digits = int(operation_id.hex[:10], 16)
        return f"{self.backup_configuration}-{SESSION}-{digits}"

    def all(self) -> list[str]:
        return [
            self.backup_configuration,
            self.retention_policy,
            self.repository,
            self.encryption_secret,
            self.archiver,
        ]


def names_for(spec: DatabaseSpec, *, namespace: str, database_id: uuid.UUID) -> BackupNames:
    return BackupNames(spec.name, database_id, namespace, spec.engine)


def restore_session_name(database_name: str, operation_id: uuid.UUID) -> str:
    """`<new database>-restore-<12 hex of the restore operation id>` (<= 63 characters)."""
    suffix = f"-restore-{operation_id.hex[: naming.OPS_ID_HEX]}"
    return f"{database_name[: naming.MAX_K8S_NAME - len(suffix)].rstrip('-')}{suffix}"


def snapshot_selector(spec: DatabaseSpec, *, namespace: str) -> str:
    """The label selector of one database's Snapshots, as KubeStash labels them."""
    labels = {
        LABEL_APP_REF_KIND: spec.engine_spec.kind,
        LABEL_APP_REF_NAME: spec.name,
        LABEL_APP_REF_NAMESPACE: namespace,
    }
    return ",".join(f"{key}={value}" for key, value in labels.items())


# -- the per-database objects ----------------------------------------------------------


def render_encryption_secret(
    names: BackupNames, *, password: str, project_id: str
) -> dict[str, Any]:
    """The Secret holding the Restic password of the database's Repository."""
    if not password:
        raise ValueError("the encryption password must not be empty")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(names.encryption_secret, names, project_id),
        "stringData": {ENCRYPTION_KEY: password},
    }


def render_retention_policy(
    retention: Retention, names: BackupNames, *, project_id: str
) -> dict[str, Any]:
    """The RetentionPolicy: keep the last N successful snapshots and/or those younger than
    max_age; one failed snapshot is kept to show what went wrong."""
    spec: dict[str, Any] = {
        "failedSnapshots": {"last": FAILED_SNAPSHOTS_KEPT},
        "usagePolicy": {"allowedNamespaces": {"from": "Same"}},
        "default": False,
    }
    if retention.keep_last is not None:
        spec["successfulSnapshots"] = {"last": retention.keep_last}
    if retention.max_age is not None:
        spec["maxRetentionPeriod"] = retention.max_age
    return {
        "apiVersion": STORAGE_API_VERSION,
        "kind": "RetentionPolicy",
        "metadata": _metadata(names.retention_policy, names, project_id),
        "spec": spec,
    }


def render_backup_configuration(
    spec: DatabaseSpec,
    policy: BackupPolicy | None,
    names: BackupNames,
    *,
    storage: ObjectRef,
    project_id: str,
) -> dict[str, Any]:
    """The BackupConfiguration: one session on `policy.schedule` (suspended without a
    policy), one Repository in `storage`, the engine's logical-backup task."""
    facts = STASH[spec.engine]
    scheduler: dict[str, Any] = {
        # Without a policy the CronJob never fires; the schedule field is still required.
        "schedule": policy.schedule if policy is not None else "@yearly",
        "jobTemplate": {"backoffLimit": 1},
        "concurrencyPolicy": "Forbid",
    }
    if policy is None:
        scheduler["suspend"] = True
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupConfiguration",
        "metadata": _metadata(names.backup_configuration, names, project_id),
        "spec": {
            "target": {
                "apiGroup": engines.DB_GROUP,
                "kind": spec.engine_spec.kind,
                "namespace": names.namespace,
                "name": spec.name,
            },
            "backends": [
                {
                    "name": BACKEND,
                    "storageRef": storage.as_ref(),
                    "retentionPolicy": {
                        "name": names.retention_policy,
                        "namespace": names.namespace,
                    },
                }
            ],
            "sessions": [
                {
                    "name": SESSION,
                    "scheduler": scheduler,
                    "repositories": [
                        {
                            "name": names.repository,
                            "backend": BACKEND,
                            "directory": names.directory,
                            "encryptionSecret": {
                                "name": names.encryption_secret,
                                "namespace": names.namespace,
                            },
                            "deletionPolicy": "Retain",
                        }
                    ],
                    "addon": {"name": facts.addon, "tasks": [{"name": facts.backup_task}]},
                    "backupTimeout": BACKUP_TIMEOUT,
                    "sessionHistoryLimit": SESSION_HISTORY_LIMIT,
                }
            ],
        },
    }


def render_backup_session(
    names: BackupNames, *, operation_id: uuid.UUID, project_id: str
) -> dict[str, Any]:
    """An on-demand BackupSession of the database's BackupConfiguration (operation `backup`)."""
    metadata = _metadata(names.backup_session(operation_id), names, project_id)
    metadata["labels"][manifests.LABEL_OPERATION_ID] = str(operation_id)
    metadata["labels"][manifests.LABEL_OPERATION_TYPE] = "backup"
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupSession",
        "metadata": metadata,
        "spec": {
            "invoker": {
                "apiGroup": CORE_GROUP,
                "kind": "BackupConfiguration",
                "name": names.backup_configuration,
            },
            "session": SESSION,
            "retryLeft": 0,
            "backupTimeout": BACKUP_TIMEOUT,
        },
    }


def render_restore_session(
    target: DatabaseSpec,
    source: BackupNames,
    *,
    namespace: str,
    target_id: uuid.UUID,
    snapshot: str,
    operation_id: uuid.UUID,
    project_id: str,
) -> dict[str, Any]:
    """The RestoreSession loading `snapshot` (a Snapshot name or `latest`) of the source
    database's Repository into the new database `target` (same namespace: same project)."""
    if target.engine is not source.engine:
        raise ValueError(
            f"cannot restore a {source.engine.value} backup into {target.engine.value}"
        )
    if not snapshot:
        raise ValueError("snapshot must be a Snapshot name or 'latest'")
    facts = STASH[target.engine]
    target_names = BackupNames(target.name, target_id, namespace, target.engine)
    metadata = _metadata(restore_session_name(target.name, operation_id), target_names, project_id)
    metadata["labels"][manifests.LABEL_OPERATION_ID] = str(operation_id)
    metadata["labels"][manifests.LABEL_OPERATION_TYPE] = "restore"
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "RestoreSession",
        "metadata": metadata,
        "spec": {
            "target": {
                "apiGroup": engines.DB_GROUP,
                "kind": target.engine_spec.kind,
                "namespace": namespace,
                "name": target.name,
            },
            "dataSource": {
                "repository": source.repository,
                "namespace": source.namespace,
                "snapshot": snapshot,
                "encryptionSecret": {
                    "name": source.encryption_secret,
                    "namespace": source.namespace,
                },
            },
            "addon": {"name": facts.addon, "tasks": [{"name": facts.restore_task}]},
            "restoreTimeout": RESTORE_TIMEOUT,
        },
    }


def with_initial_restore(database_cr: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a rendered database CR that waits for a RestoreSession before Ready."""
    cr = copy.deepcopy(dict(database_cr))
    cr["spec"].setdefault("init", {})["waitForInitialRestore"] = True
    return cr


def render_archiver(
    spec: DatabaseSpec,
    policy: BackupPolicy,
    names: BackupNames,
    *,
    storage: ObjectRef,
    project_id: str,
) -> dict[str, Any]:
    """The engine's KubeDB archiver for this one database (PITR): full backups on the
    policy's schedule, continuous log shipping, the database's RetentionPolicy."""
    facts = STASH[spec.engine]
    if facts.archiver_kind is None:
        raise ValueError(f"{spec.engine.value} has no archiver (no point-in-time recovery)")
    scheduler = {"schedule": policy.schedule, "jobTemplate": {"backoffLimit": 1}}
    return {
        "apiVersion": ARCHIVER_API_VERSION,
        "kind": facts.archiver_kind,
        "metadata": _metadata(names.archiver, names, project_id),
        "spec": {
            # Double opt-in: only this database (by id) in this namespace may use it.
            "databases": {
                "namespaces": {"from": "Same"},
                "selector": {"matchLabels": {manifests.LABEL_DATABASE_ID: str(names.database_id)}},
            },
            "backupStorage": {
                "ref": storage.as_ref(),
                "subDir": f"{names.directory.lstrip('/')}/pitr",
            },
            "retentionPolicy": {"name": names.retention_policy, "namespace": names.namespace},
            "encryptionSecret": {"name": names.encryption_secret, "namespace": names.namespace},
            "fullBackup": {
                "driver": "Restic",
                "scheduler": scheduler,
                "sessionHistoryLimit": SESSION_HISTORY_LIMIT,
            },
            "manifestBackup": {
                "scheduler": scheduler,
                "sessionHistoryLimit": SESSION_HISTORY_LIMIT,
            },
            "deletionPolicy": "Retain",
        },
    }


def archiver_patch(names: BackupNames) -> dict[str, Any]:
    """The merge patch of the database CR that makes it use its archiver."""
    return {"spec": {"archiver": {"ref": {"name": names.archiver, "namespace": names.namespace}}}}


def with_point_in_time_restore(
    database_cr: Mapping[str, Any], source: BackupNames, *, recovery_time: datetime.datetime
) -> dict[str, Any]:
    """A copy of a rendered database CR that KubeDB recovers from the source's archive."""
    if recovery_time.tzinfo is None:
        raise ValueError("recovery_time must be timezone-aware")
    full, manifest = source.archiver_repositories
    cr = copy.deepcopy(dict(database_cr))
    cr["spec"].setdefault("init", {})["archiver"] = {
        "recoveryTimestamp": recovery_time.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "encryptionSecret": {"name": source.encryption_secret, "namespace": source.namespace},
        "fullDBRepository": {"name": full, "namespace": source.namespace},
        "manifestRepository": {"name": manifest, "namespace": source.namespace},
    }
    return cr


# -- helpers ---------------------------------------------------------------------------


def _metadata(name: str, names: BackupNames, project_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": names.namespace,
        "labels": {
            manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY,
            manifests.LABEL_PROJECT: project_id,
            manifests.LABEL_DATABASE_ID: str(names.database_id),
        },
    }


def _is_subdomain(text: str) -> bool:
    parts = text.split(".")
    return 0 < len(text) <= 253 and all(naming.is_dns_label(part) for part in parts)

"""The Kubernetes resources dbaas reads and writes: their group, version, plural and kind.

Why here: the worker's steps, both reconcilers and the API's catalog cache name the same
resources, and deciding which object to touch is pure; only `clients.kube` talks to the API
server. This module never imports a client.
"""

from __future__ import annotations

import dataclasses

from services.domain import engines


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True


def database_resource(engine: str) -> Resource:
    facts = engines.spec_for(engine)
    return Resource(engines.DB_GROUP, engines.DB_VERSION, facts.plural, facts.kind)


def ops_request_resource(engine: str) -> Resource:
    facts = engines.spec_for(engine)
    return Resource(engines.OPS_GROUP, engines.OPS_VERSION, facts.ops_plural, facts.ops_kind)


def database_resources() -> list[Resource]:
    """The database CR kinds of every engine."""
    return [database_resource(engine) for engine in engines.ENGINES]


def ops_request_resources() -> list[Resource]:
    """The OpsRequest kinds of every engine."""
    return [ops_request_resource(engine) for engine in engines.ENGINES]


def catalog_resource(spec: engines.EngineSpec) -> Resource:
    """The cluster-scoped version catalog of an engine."""
    return Resource(
        engines.CATALOG_GROUP,
        engines.CATALOG_VERSION,
        spec.catalog_plural,
        spec.catalog_kind,
        namespaced=False,
    )


SECRET = Resource("", "v1", "secrets", "Secret")
RETENTION_POLICY = Resource(
    "storage.kubestash.com", "v1alpha1", "retentionpolicies", "RetentionPolicy"
)
SNAPSHOT = Resource("storage.kubestash.com", "v1alpha1", "snapshots", "Snapshot")
BACKUP_CONFIGURATION = Resource(
    "core.kubestash.com", "v1alpha1", "backupconfigurations", "BackupConfiguration"
)
BACKUP_SESSION = Resource("core.kubestash.com", "v1alpha1", "backupsessions", "BackupSession")
RESTORE_SESSION = Resource("core.kubestash.com", "v1alpha1", "restoresessions", "RestoreSession")


ARCHIVER_GROUP = "archiver.kubedb.com"


def archiver_resource(kind: str, plural: str) -> Resource:
    """A KubeDB archiver kind (PostgresArchiver...); `backup_manifests.STASH` names them."""
    return Resource(ARCHIVER_GROUP, "v1alpha1", plural, kind)

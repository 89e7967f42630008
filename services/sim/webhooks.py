"""The KubeDB admission webhooks, simulated: defaults on create, denials as a webhook answers.

Mirrors what KUBEDB-API.md §1.5, §2.1 and §1.6 record of the real webhooks:
- databases: `deletionPolicy` (Delete), `storageType` (Durable), replicas and the main
  container's resources are defaulted; `spec.version` must name a non-deprecated catalog
  entry; `spec.storageType` is immutable; `halted` is refused with DoNotTerminate; a delete
  is refused while `deletionPolicy: DoNotTerminate`.
- OpsRequests: the database in `spec.databaseRef` must exist; the sub-spec of the type must
  be there; an UpdateVersion target must be upgradable and a VolumeExpansion must grow the
  volume (`opsplans`); the spec is immutable after creation.
Denials are controller-runtime's `Denied`: 403 Forbidden, message prefixed with
`admission webhook "<name>" denied the request: `. Only the KubeDB groups are touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.sim import errors, kubedb, opsplans
from services.sim.resources import ResourceType

if TYPE_CHECKING:
    from services.sim.apiserver import ApiServer

DEFAULT_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "1024Mi"},
    "limits": {"memory": "1024Mi"},
}
OPS_SUBSPEC = {
    "HorizontalScaling": "horizontalScaling",
    "VerticalScaling": "verticalScaling",
    "VolumeExpansion": "volumeExpansion",
    "UpdateVersion": "updateVersion",
}


CHECKED_AT_CREATE = frozenset({"UpdateVersion", "VolumeExpansion"})
"""Types whose target the OpsRequest webhook checks against the database at create
(KUBEDB-API.md §2.3, §5: a version not upgradable, a volume not larger); the ops-manager
checks again when it runs them, as the database may have changed meanwhile."""


def webhook_name(rt: ResourceType) -> str:
    return f"{rt.singular}.validators.{rt.group}"


def _deny(rt: ResourceType, obj: dict[str, Any], message: str) -> errors.ApiError:
    return errors.webhook_denied(
        webhook_name(rt),
        message,
        plural=rt.plural,
        group=rt.group,
        name=obj.get("metadata", {}).get("name", ""),
    )


def _engine(rt: ResourceType) -> kubedb.EngineSpec | None:
    return kubedb.by_kind(rt.kind)


def catalog_of(cluster: ApiServer, engine: kubedb.EngineSpec) -> dict[str, dict[str, Any]]:
    """The engine's catalog objects by name."""
    collection = cluster.store.collection(f"{engine.catalog_plural}.{kubedb.CATALOG_GROUP}")
    return {key[1]: entry.obj for key, entry in collection.entries.items()}


def catalog_entry(
    cluster: ApiServer, engine: kubedb.EngineSpec, name: str
) -> dict[str, Any] | None:
    entry = cluster.store.get(f"{engine.catalog_plural}.{kubedb.CATALOG_GROUP}", ("", name))
    return entry.obj if entry else None


def _default_replicas(engine: kubedb.EngineSpec, spec: dict[str, Any]) -> None:
    if engine.engine is kubedb.Engine.REDIS and spec.get("mode") == "Cluster":
        cluster = spec.setdefault("cluster", {})
        cluster.setdefault("shards", 3)
        cluster.setdefault("replicas", 2)
        return
    if engine.engine is kubedb.Engine.MYSQL and (spec.get("topology") or {}).get("mode") in (
        "GroupReplication",
        "InnoDBCluster",
    ):
        spec.setdefault("replicas", 3)
        return
    if engine.engine is kubedb.Engine.MONGODB and spec.get("shardTopology"):
        return
    spec.setdefault("replicas", 1)


def _default_resources(engine: kubedb.EngineSpec, spec: dict[str, Any]) -> None:
    if engine.engine is kubedb.Engine.MONGODB and spec.get("shardTopology"):
        return
    template = spec.setdefault("podTemplate", {})
    pod_spec = template.setdefault("spec", {})
    containers = pod_spec.setdefault("containers", [])
    container = next((c for c in containers if c.get("name") == engine.container), None)
    if container is None:
        container = {"name": engine.container}
        containers.append(container)
    resources = container.get("resources")
    if not resources:
        container["resources"] = {key: dict(value) for key, value in DEFAULT_RESOURCES.items()}
        return
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if requests.get("memory") and "memory" not in limits:
        resources["limits"] = {**limits, "memory": requests["memory"]}


class KubeDBWebhooks:
    """Mutating + validating webhooks of kubedb-webhook-server, for the four engines."""

    def mutate(
        self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        engine = _engine(rt)
        if engine is None or rt.group != kubedb.DB_GROUP:
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if spec.get("halted") and spec.get("deletionPolicy") != "DoNotTerminate":
            spec["deletionPolicy"] = "Halt"
        if old is None:
            spec.setdefault("deletionPolicy", "Delete")
            spec.setdefault("storageType", "Durable")
            _default_replicas(engine, spec)
            _default_resources(engine, spec)

    def validate(
        self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        engine = _engine(rt)
        if engine is None:
            return
        if rt.group == kubedb.DB_GROUP:
            self._validate_database(cluster, rt, engine, obj, old)
        elif rt.group == kubedb.OPS_GROUP:
            self._validate_ops(cluster, rt, engine, obj, old)

    def _validate_database(
        self,
        cluster: ApiServer,
        rt: ResourceType,
        engine: kubedb.EngineSpec,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        spec = obj.get("spec") or {}
        old_spec = (old or {}).get("spec") or {}
        if old is not None and old["metadata"].get("deletionTimestamp"):
            return
        version = spec.get("version")
        if old is None or version != old_spec.get("version"):
            catalog = catalog_entry(cluster, engine, str(version))
            if catalog is None:
                raise _deny(
                    rt,
                    obj,
                    f'{engine.catalog_plural}.{kubedb.CATALOG_GROUP} "{version}" not found',
                )
            if (catalog.get("spec") or {}).get("deprecated"):
                raise _deny(
                    rt,
                    obj,
                    f"{rt.singular} {obj['metadata']['namespace']}/"
                    f"{obj['metadata']['name']} is using deprecated version {version}. "
                    "Skipped processing",
                )
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas <= 0:
            raise _deny(
                rt, obj, f'spec.replicas "{replicas}" invalid. Value must be greater than zero'
            )
        if spec.get("halted") and spec.get("deletionPolicy") == "DoNotTerminate":
            raise _deny(rt, obj, "Can't halt, since termination policy is 'DoNotTerminate'")
        if spec.get("deletionPolicy") == "Halt" and spec.get("storageType") == "Ephemeral":
            raise _deny(
                rt, obj, "'spec.deletionPolicy: Halt' can not be used for 'Ephemeral' storage"
            )
        if old is not None and spec.get("storageType") != old_spec.get("storageType"):
            raise _deny(
                rt,
                obj,
                "precondition failed for:\nAt least one of the following was "
                "changed:\n\tapiVersion\n\tkind\n\tname\n\tnamespace\n\tspec.storageType",
            )

    def _validate_ops(
        self,
        cluster: ApiServer,
        rt: ResourceType,
        engine: kubedb.EngineSpec,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        spec = obj.get("spec") or {}
        if old is not None:
            if spec != (old.get("spec") or {}):
                raise _deny(
                    rt,
                    obj,
                    "precondition failed for:\nAt least one of the following "
                    "was changed:\n\tapiVersion\n\tkind\n\tname\n\tnamespace\n\tspec",
                )
            return
        namespace = obj["metadata"].get("namespace", "")
        db_name = (spec.get("databaseRef") or {}).get("name")
        db_key = f"{engine.plural}.{kubedb.DB_GROUP}"
        if not db_name or cluster.store.get(db_key, (namespace, db_name)) is None:
            raise _deny(rt, obj, f"spec.databaseRef {namespace}/{db_name}, is invalid or not found")
        op_type = spec.get("type")
        field = OPS_SUBSPEC.get(str(op_type))
        if field and not spec.get(field):
            raise _deny(rt, obj, f"spec.{field} nil not supported in {op_type} type")
        if op_type in CHECKED_AT_CREATE:
            db = cluster.store.get(db_key, (namespace, db_name))
            assert db is not None
            try:
                opsplans.plan(engine, obj, db.obj, catalog_of(cluster, engine))
            except opsplans.OpsFailure as failure:
                raise _deny(rt, obj, str(failure)) from failure

    def validate_delete(self, cluster: ApiServer, rt: ResourceType, obj: dict[str, Any]) -> None:
        engine = _engine(rt)
        if engine is None or rt.group != kubedb.DB_GROUP:
            return
        if (obj.get("spec") or {}).get("deletionPolicy") == "DoNotTerminate":
            meta = obj["metadata"]
            raise _deny(
                rt,
                obj,
                f'{rt.singular} "{meta["namespace"]}/{meta["name"]}" can\'t be '
                "terminated. To delete, change spec.deletionPolicy",
            )

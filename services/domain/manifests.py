"""Render KubeDB objects from desired specs, and read a desired spec back from a live CR.

Why: the worker applies exactly these dicts (a `kubedb.com/v1` database CR for `create`,
an `ops.kubedb.com/v1alpha1` OpsRequest for every other change), status-sync and drift read
live CRs through `observed_spec_from_cr`. Keeping both directions here, next to each other,
keeps them consistent: `observed_spec_from_cr(render_database(spec))` gives back the spec.
Every rendered object validates against the real CRD schemas (tests/sim/test_manifests_crd.py).

Per-engine differences (KUBEDB-API.md §1.3, §2.3):
- topology: see `engines`; Postgres always carries `standbyMode: Hot` and
  `streamingMode: Asynchronous` so that scaling 1 <-> N needs no other change.
- resources live in `spec.podTemplate.spec.containers[<engine>]`, rendered only when set:
  `requests.cpu`, `requests.memory` and `limits.memory` (= the request; no cpu limit).
- OpsRequest sub-specs: HorizontalScaling `replicas` (MySQL: `member`); VerticalScaling and
  VolumeExpansion keyed by container (`postgres`, `mysql`, `redis`) except MongoDB, keyed by
  component (`standalone` or `replicaSet`).
- VolumeExpansion `mode` depends on the StorageClass, not the engine (KubeDB docs: "If your
  storageclass supports online volume expansion, you can go with it. Otherwise, ... Offline"),
  so it is a parameter; Online by default (no pod restarts).
- A VerticalScaling must state full resources, so a setting the user removed (None) is
  rendered as KubeDB's default for that engine (`default_resources`).

This module never does I/O and never decides whether a change is allowed (that is `specs`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from services.domain import engines
from services.domain.engines import Engine, Topology
from services.domain.planning import OperationType
from services.domain.specs import DELETION_POLICIES, DatabaseSpec

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "dbaas"
LABEL_PROJECT = "dbaas.io/project"
LABEL_DATABASE_ID = "dbaas.io/database-id"
LABEL_OPERATION_ID = "dbaas.io/operation-id"
LABEL_OPERATION_TYPE = "dbaas.io/operation-type"
ANNOTATION_GENERATION = "dbaas.io/generation"

DEFAULT_OPS_TIMEOUT = "10m"
VOLUME_EXPANSION_MODES = ("Online", "Offline")

OPS_TYPES: dict[OperationType, str] = {
    OperationType.SCALE: "HorizontalScaling",
    OperationType.RESIZE: "VerticalScaling",
    OperationType.EXPAND: "VolumeExpansion",
    OperationType.UPGRADE: "UpdateVersion",
    OperationType.RESTART: "Restart",
}

# KubeDB's container defaults (apimachinery `DefaultResources`); MongoDB differs by major.
_DEFAULT_CPU = "500m"
_DEFAULT_MEMORY = "1024Mi"
_MAJOR = re.compile(r"(\d+)\.\d+")


def render_database(
    spec: DatabaseSpec,
    *,
    namespace: str,
    database_id: uuid.UUID,
    project_id: str,
    generation: int,
    storage_class: str | None = None,
) -> dict[str, Any]:
    """The `kubedb.com/v1` CR for `spec` (kind per engine, fields per topology)."""
    facts = spec.engine_spec
    storage: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage}},
    }
    if storage_class is not None:
        storage["storageClassName"] = storage_class
    body: dict[str, Any] = {
        "version": spec.version,
        **_topology_fields(spec),
        "storageType": "Durable",
        "storage": storage,
        "deletionPolicy": spec.deletion_policy,
    }
    resources = _container_resources(spec.cpu, spec.memory)
    if resources:
        body["podTemplate"] = {
            "spec": {"containers": [{"name": facts.container, "resources": resources}]}
        }
    return {
        "apiVersion": facts.api_version,
        "kind": facts.kind,
        "metadata": {
            "name": spec.name,
            "namespace": namespace,
            "labels": _labels(project_id, database_id),
            "annotations": {ANNOTATION_GENERATION: str(generation)},
        },
        "spec": body,
    }


def render_ops_request(
    spec: DatabaseSpec,
    op_type: str,
    params: Mapping[str, Any],
    *,
    namespace: str,
    name: str,
    database_id: uuid.UUID,
    operation_id: uuid.UUID,
    project_id: str,
    timeout: str = DEFAULT_OPS_TIMEOUT,
    volume_expansion_mode: str = "Online",
) -> dict[str, Any]:
    """The `<Kind>OpsRequest` that carries out operation `op_type` with `params` on `spec`.

    `spec` is the desired spec of the database (its topology picks the MongoDB component);
    `params` are the operation's target values (`PlannedOperation.params`). Raises
    ValueError for an operation without an OpsRequest or with params it cannot render.
    """
    operation = OperationType(op_type)
    kubedb_type = OPS_TYPES.get(operation)
    if kubedb_type is None:
        raise ValueError(f"operation type {op_type!r} is not carried out by an OpsRequest")
    facts = spec.engine_spec
    body: dict[str, Any] = {
        "type": kubedb_type,
        "databaseRef": {"name": spec.name},
        "timeout": timeout,
        "apply": "Always" if operation is OperationType.RESTART else "IfReady",
    }
    if operation is OperationType.SCALE:
        body["horizontalScaling"] = _horizontal_scaling(spec, _int_param(params, "replicas"))
    elif operation is OperationType.RESIZE:
        cpu, memory = _resolved_resources(spec, params)
        body["verticalScaling"] = {
            _component(spec): {"resources": _container_resources(cpu, memory)}
        }
    elif operation is OperationType.EXPAND:
        if volume_expansion_mode not in VOLUME_EXPANSION_MODES:
            raise ValueError(f"volume expansion mode must be one of {VOLUME_EXPANSION_MODES}")
        body["volumeExpansion"] = {
            "mode": volume_expansion_mode,
            _component(spec): _str_param(params, "storage"),
        }
    elif operation is OperationType.UPGRADE:
        body["updateVersion"] = {"targetVersion": _str_param(params, "version")}
    else:
        body["restart"] = {}
    labels = _labels(project_id, database_id)
    labels[LABEL_OPERATION_ID] = str(operation_id)
    labels[LABEL_OPERATION_TYPE] = operation.value
    return {
        "apiVersion": facts.ops_api_version,
        "kind": facts.ops_kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": body,
    }


def render_configure_patch(params: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch of the DB CR that carries out a `configure` operation."""
    policy = params.get("deletion_policy")
    if policy not in DELETION_POLICIES:
        raise ValueError(f"params['deletion_policy'] must be one of {DELETION_POLICIES}")
    return {"spec": {"deletionPolicy": policy}}


def default_resources(engine: Engine, version: str) -> tuple[str, str]:
    """KubeDB's default (cpu, memory) request of the main container (KUBEDB-API.md §1.2)."""
    if engine is Engine.MONGODB:
        major = _major(version)
        if major is not None and major >= 8:
            return "800m", "1536Mi"
        if major is not None and major >= 6:
            return "800m", _DEFAULT_MEMORY
    return _DEFAULT_CPU, _DEFAULT_MEMORY


def observed_spec_from_cr(engine: Engine | str, cr: Mapping[str, Any]) -> dict[str, Any]:
    """The desired-spec fields as a live DB CR states them.

    Keys: version, replicas, storage, cpu, memory, deletion_policy, topology. `topology` is
    "standalone", "replicated", or the CR's own word for a shape we never create
    ("sharded", "Sentinel", "InnoDBCluster", ...). Values are read as they are; absent
    fields give KubeDB's defaults for replicas and deletion policy, None otherwise.
    """
    facts = engines.spec_for(engine)
    spec = _mapping(cr.get("spec"))
    topology, replicas = _observed_topology(facts.engine, spec)
    requests = _container_requests(spec, facts.container)
    storage = _mapping(_mapping(_mapping(spec.get("storage")).get("resources")).get("requests"))
    return {
        "version": spec.get("version"),
        "replicas": replicas,
        "storage": _text(storage.get("storage")),
        "cpu": _text(requests.get("cpu")),
        "memory": _text(requests.get("memory")),
        "deletion_policy": spec.get("deletionPolicy") or "Delete",
        "topology": topology,
    }


def desired_observed_spec(spec: DatabaseSpec) -> dict[str, Any]:
    """What `observed_spec_from_cr` reads from the CR `render_database(spec)` renders."""
    return {
        "version": spec.version,
        "replicas": spec.replicas,
        "storage": spec.storage,
        "cpu": spec.cpu,
        "memory": spec.memory,
        "deletion_policy": spec.deletion_policy,
        "topology": spec.topology.value,
    }


# -- rendering helpers -----------------------------------------------------------------


def _labels(project_id: str, database_id: uuid.UUID) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PROJECT: project_id,
        LABEL_DATABASE_ID: str(database_id),
    }


def _topology_fields(spec: DatabaseSpec) -> dict[str, Any]:
    replicated = spec.topology is Topology.REPLICATED
    if spec.engine is Engine.POSTGRES:
        return {"replicas": spec.replicas, "standbyMode": "Hot", "streamingMode": "Asynchronous"}
    if spec.engine is Engine.MYSQL:
        if not replicated:
            return {"replicas": 1}
        return {
            "replicas": spec.replicas,
            "topology": {"mode": "GroupReplication", "group": {"mode": "Single-Primary"}},
        }
    if spec.engine is Engine.MONGODB:
        if not replicated:
            return {"replicas": 1}
        return {
            "replicas": spec.replicas,
            "replicaSet": {"name": engines.MONGODB_REPLICA_SET_NAME},
        }
    if not replicated:
        return {"mode": "Standalone", "replicas": 1}
    # Redis Cluster ignores spec.replicas; nodes per shard (master included) go here.
    return {
        "mode": "Cluster",
        "cluster": {"shards": engines.REDIS_CLUSTER_SHARDS, "replicas": spec.replicas},
    }


def _container_resources(cpu: str | None, memory: str | None) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    if not requests:
        return {}
    resources: dict[str, Any] = {"requests": requests}
    if memory is not None:
        resources["limits"] = {"memory": memory}
    return resources


def _component(spec: DatabaseSpec) -> str:
    """The key naming the database's pods in VerticalScaling and VolumeExpansion."""
    if spec.engine is Engine.MONGODB:
        return "standalone" if spec.topology is Topology.STANDALONE else "replicaSet"
    return spec.engine_spec.container


def _horizontal_scaling(spec: DatabaseSpec, replicas: int) -> dict[str, Any]:
    facts = spec.engine_spec
    if not facts.can_scale(spec.replicas, replicas):
        raise ValueError(
            f"{spec.engine.value} cannot scale from {spec.replicas} to {replicas} replicas"
        )
    if spec.engine is Engine.POSTGRES:
        return {"replicas": replicas, "standbyMode": "Hot", "streamingMode": "Asynchronous"}
    if spec.engine is Engine.MYSQL:
        return {"member": replicas}
    return {"replicas": replicas}


def _resolved_resources(spec: DatabaseSpec, params: Mapping[str, Any]) -> tuple[str, str]:
    default_cpu, default_memory = default_resources(spec.engine, spec.version)
    cpu, memory = params.get("cpu"), params.get("memory")
    for key, value in (("cpu", cpu), ("memory", memory)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"params[{key!r}] must be a quantity string or None")
    return cpu or default_cpu, memory or default_memory


def _int_param(params: Mapping[str, Any], key: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"params[{key!r}] must be an integer, got {value!r}")
    return value


def _str_param(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"params[{key!r}] must be a non-empty string, got {value!r}")
    return value


def _major(version: str) -> int | None:
    match = _MAJOR.search(version)
    return int(match.group(1)) if match else None


# -- reading helpers -------------------------------------------------------------------


def _observed_topology(engine: Engine, spec: Mapping[str, Any]) -> tuple[str, int]:
    replicas = _int_or(spec.get("replicas"), 1)
    if engine is Engine.POSTGRES:
        return (Topology.STANDALONE if replicas <= 1 else Topology.REPLICATED).value, replicas
    if engine is Engine.MYSQL:
        mode = _mapping(spec.get("topology")).get("mode")
        if mode is None:
            return Topology.STANDALONE.value, replicas
        if mode == "GroupReplication":
            return Topology.REPLICATED.value, _int_or(spec.get("replicas"), 3)
        return str(mode), replicas
    if engine is Engine.MONGODB:
        if spec.get("shardTopology") is not None:
            return "sharded", replicas
        if spec.get("replicaSet") is not None:
            return Topology.REPLICATED.value, replicas
        return Topology.STANDALONE.value, replicas
    mode = spec.get("mode") or "Standalone"
    if mode == "Cluster":
        return Topology.REPLICATED.value, _int_or(_mapping(spec.get("cluster")).get("replicas"), 2)
    if mode == "Standalone":
        return Topology.STANDALONE.value, replicas
    return str(mode), replicas


def _container_requests(spec: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    pod_spec = _mapping(_mapping(spec.get("podTemplate")).get("spec"))
    containers = pod_spec.get("containers")
    for entry in containers if isinstance(containers, list) else ():
        if isinstance(entry, Mapping) and entry.get("name") == container:
            return _mapping(_mapping(entry.get("resources")).get("requests"))
    return {}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: object) -> str | None:
    return None if value is None else str(value)

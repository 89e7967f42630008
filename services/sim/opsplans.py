"""What an OpsRequest does to its database's spec, decided purely.

`plan(engine, op, db, catalog)` returns the merge patch the ops-manager writes back into the
database spec once the request succeeds, or raises `OpsFailure` with the reason the real
ops-manager (or its webhook) gives: storage that would not grow, an unknown or disallowed
target version, a replica count or topology change KubeDB does not make, a missing
sub-spec. Field locations per engine follow KUBEDB-API.md §2.3: MySQL scales with
`horizontalScaling.member`, Redis in Cluster mode scales `spec.cluster`, vertical scaling
targets the engine's main container. The rules themselves are `rules.py`'s. No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from services.sim import kubedb, rules
from services.sim.kubedb import Engine, EngineSpec

Catalog = Mapping[str, Mapping[str, Any]]
"""The engine's catalog objects by name."""

STEP_CONDITIONS = {
    "HorizontalScaling": "HorizontalScaling",
    "VerticalScaling": "VerticalScaling",
    "VolumeExpansion": "VolumeExpansion",
    "UpdateVersion": "UpdateVersion",
    "Restart": "RestartPods",
}

# MongoDB nests its per-component fields; the first present one is the replica set's.
_MONGODB_COMPONENTS = ("replicaSet", "standalone")


class OpsFailure(Exception):
    """The OpsRequest must end Failed with this message."""


def _component(engine: EngineSpec, section: dict[str, Any]) -> Any:
    if engine.engine is Engine.MONGODB:
        for name in _MONGODB_COMPONENTS:
            if section.get(name) is not None:
                return section[name]
        return None
    return section.get(engine.container)


def _horizontal(engine: EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
    section = spec.get("horizontalScaling") or {}
    db_spec = db.get("spec") or {}
    name = f"{db['metadata'].get('namespace')}/{db['metadata']['name']}"
    if engine.engine is Engine.MYSQL:
        if not (db_spec.get("topology") or {}).get("mode"):
            raise OpsFailure(
                f"horizontal scaling is not supported for standalone MySQL {name}; "
                "use a ReplicationModeTransformation OpsRequest to change the topology"
            )
        member = section.get("member")
        if not isinstance(member, int) or member <= 0:
            raise OpsFailure("spec.horizontalScaling.member must be a positive number")
        if member > rules.MYSQL_MAX_GROUP_MEMBERS:
            raise OpsFailure(
                f"spec.horizontalScaling.member {member} exceeds the group replication "
                f"limit of {rules.MYSQL_MAX_GROUP_MEMBERS} members"
            )
        return {"replicas": member}
    if engine.engine is Engine.REDIS:
        mode = db_spec.get("mode") or "Standalone"
        if mode != "Cluster":
            raise OpsFailure(f"horizontal scaling is not supported for Redis {name} in {mode} mode")
        cluster: dict[str, Any] = {}
        shards, replicas = section.get("shards"), section.get("replicas")
        if shards is not None:
            if not isinstance(shards, int) or shards < rules.REDIS_MIN_SHARDS:
                raise OpsFailure(
                    f"spec.horizontalScaling.shards must be at least {rules.REDIS_MIN_SHARDS}"
                )
            cluster["shards"] = shards
        if replicas is not None:
            if not isinstance(replicas, int) or replicas < 0:
                raise OpsFailure("spec.horizontalScaling.replicas must not be negative")
            cluster["replicas"] = replicas
        if not cluster:
            raise OpsFailure("spec.horizontalScaling needs shards or replicas for a Redis cluster")
        return {"cluster": cluster}
    replicas = section.get("replicas")
    if engine.engine is Engine.MONGODB and not (
        db_spec.get("replicaSet") or db_spec.get("shardTopology")
    ):
        raise OpsFailure(
            f"horizontal scaling is not supported for standalone MongoDB {name}; "
            "it has neither spec.replicaSet nor spec.shardTopology"
        )
    if not isinstance(replicas, int) or replicas <= 0:
        raise OpsFailure("spec.horizontalScaling.replicas must be a positive number of replicas")
    return {"replicas": replicas}


def _vertical(engine: EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
    component = _component(engine, spec.get("verticalScaling") or {})
    resources = (component or {}).get("resources") if isinstance(component, dict) else None
    if not resources:
        raise OpsFailure(f"spec.verticalScaling.{engine.container}.resources is required")
    template = copy.deepcopy((db.get("spec") or {}).get("podTemplate") or {})
    containers = template.setdefault("spec", {}).setdefault("containers", [])
    container = next((c for c in containers if c.get("name") == engine.container), None)
    if container is None:
        container = {"name": engine.container}
        containers.append(container)
    container["resources"] = copy.deepcopy(resources)
    return {"podTemplate": template}


def _volume(engine: EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
    desired = _component(engine, spec.get("volumeExpansion") or {})
    if not isinstance(desired, str):
        raise OpsFailure(f"spec.volumeExpansion.{engine.container} is required")
    storage = copy.deepcopy((db.get("spec") or {}).get("storage") or {})
    current = ((storage.get("resources") or {}).get("requests") or {}).get("storage")
    try:
        grows = current is None or rules.quantity(desired) > rules.quantity(str(current))
    except ValueError as exc:
        raise OpsFailure(f"invalid storage size {desired!r}: {exc}") from exc
    if not grows:
        raise OpsFailure(
            f"desired storage size must be greater than current storage ({desired} <= {current})"
        )
    storage.setdefault("resources", {}).setdefault("requests", {})["storage"] = desired
    return {"storage": storage}


def _topology(engine: EngineSpec, db: dict[str, Any]) -> str:
    """The key of MySQL's per-topology update constraints."""
    spec = db.get("spec") or {}
    if engine.engine is Engine.MYSQL and (spec.get("topology") or {}).get("mode"):
        return "groupReplication"
    return "standalone"


def _update_version(
    engine: EngineSpec, spec: dict[str, Any], db: dict[str, Any], catalog: Catalog
) -> Any:
    target_name = (spec.get("updateVersion") or {}).get("targetVersion")
    if not target_name:
        raise OpsFailure("spec.updateVersion.targetVersion is required")
    target_name = str(target_name)
    current_name = str((db.get("spec") or {}).get("version"))
    target, current = catalog.get(target_name), catalog.get(current_name)
    for name, found in ((target_name, target), (current_name, current)):
        if found is None:
            raise OpsFailure(f'{engine.catalog_plural}.{kubedb.CATALOG_GROUP} "{name}" not found')
    assert target is not None and current is not None
    try:
        allowed = rules.upgradable(current, catalog.values(), _topology(engine, db))
    except ValueError as exc:
        raise OpsFailure(f"failed to resolve version constraints, reason: {exc}") from exc
    if target_name not in allowed:
        raise OpsFailure(
            f"failed to update version: {engine.kind} version {current_name} "
            f"can't be updated to {target_name}, it is not in the list of upgradable versions"
        )
    if engine.engine is Engine.POSTGRES:
        for field in ("distribution", "db.baseOS"):
            have, want = _field(current, field), _field(target, field)
            if have != want:
                raise OpsFailure(
                    f"failed to update version: spec.{field} of {target_name} ({want}) "
                    f"differs from {current_name} ({have}); it can't be changed"
                )
    return {"version": target_name}


def _field(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj.get("spec") or {}
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def plan(
    engine: EngineSpec, op: dict[str, Any], db: dict[str, Any], catalog: Catalog
) -> dict[str, Any]:
    """The spec merge patch for `db` once `op` succeeds (empty when the spec stays)."""
    spec = op.get("spec") or {}
    op_type = spec.get("type")
    if op_type == "HorizontalScaling":
        return dict(_horizontal(engine, spec, db))
    if op_type == "VerticalScaling":
        return dict(_vertical(engine, spec, db))
    if op_type == "VolumeExpansion":
        return dict(_volume(engine, spec, db))
    if op_type == "UpdateVersion":
        return dict(_update_version(engine, spec, db, catalog))
    return {}

"""What an OpsRequest does to its database's spec, decided purely.

`plan(engine, op, db, catalog)` returns the merge patch the ops-manager writes back into the
database spec once the request succeeds, or raises `OpsFailure` with the reason the real
ops-manager (or its webhook) gives: storage that would not grow, an unknown or disallowed
target version, a missing sub-spec. Field locations per engine follow KUBEDB-API.md §2.3:
MySQL scales with `horizontalScaling.member`, Redis in Cluster mode scales
`spec.cluster.replicas`, vertical scaling targets the engine's main container. No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from services.domain import engines, quantities, versions

CatalogLookup = Callable[[str], dict[str, Any] | None]

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


def _component(engine: engines.EngineSpec, section: dict[str, Any]) -> Any:
    if engine.engine is engines.Engine.MONGODB:
        for name in _MONGODB_COMPONENTS:
            if section.get(name) is not None:
                return section[name]
        return None
    return section.get(engine.container)


def _horizontal(engine: engines.EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
    section = spec.get("horizontalScaling") or {}
    db_spec = db.get("spec") or {}
    if engine.engine is engines.Engine.MYSQL:
        replicas = section.get("member")
    else:
        replicas = section.get("replicas")
    if engine.engine is engines.Engine.REDIS and db_spec.get("mode") == "Cluster":
        cluster: dict[str, Any] = {}
        if section.get("shards") is not None:
            cluster["shards"] = section["shards"]
        if replicas is not None:
            cluster["replicas"] = replicas
        if not cluster:
            raise OpsFailure("spec.horizontalScaling needs shards or replicas for a Redis cluster")
        return {"cluster": cluster}
    if not isinstance(replicas, int) or replicas <= 0:
        field = "member" if engine.engine is engines.Engine.MYSQL else "replicas"
        raise OpsFailure(f"spec.horizontalScaling.{field} must be a positive number of replicas")
    return {"replicas": replicas}


def _vertical(engine: engines.EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
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


def _volume(engine: engines.EngineSpec, spec: dict[str, Any], db: dict[str, Any]) -> Any:
    desired = _component(engine, spec.get("volumeExpansion") or {})
    if not isinstance(desired, str):
        raise OpsFailure(f"spec.volumeExpansion.{engine.container} is required")
    storage = copy.deepcopy((db.get("spec") or {}).get("storage") or {})
    current = ((storage.get("resources") or {}).get("requests") or {}).get("storage")
    try:
        grows = current is None or quantities.compare_quantities(desired, str(current)) > 0
    except ValueError as exc:
        raise OpsFailure(f"invalid storage size {desired!r}: {exc}") from exc
    if not grows:
        raise OpsFailure(
            f"desired storage size must be greater than current storage ({desired} <= {current})"
        )
    storage.setdefault("resources", {}).setdefault("requests", {})["storage"] = desired
    return {"storage": storage}


def _topology(engine: engines.EngineSpec, db: dict[str, Any]) -> str:
    spec = db.get("spec") or {}
    if engine.engine is engines.Engine.MYSQL and (spec.get("topology") or {}).get("mode"):
        return "groupReplication"
    return versions.STANDALONE


def _update_version(
    engine: engines.EngineSpec, spec: dict[str, Any], db: dict[str, Any], catalog: CatalogLookup
) -> Any:
    target_name = (spec.get("updateVersion") or {}).get("targetVersion")
    if not target_name:
        raise OpsFailure("spec.updateVersion.targetVersion is required")
    current_name = str((db.get("spec") or {}).get("version"))
    target_obj, current_obj = catalog(str(target_name)), catalog(current_name)
    if target_obj is None:
        raise OpsFailure(
            f'{engine.catalog_plural}.{engines.CATALOG_GROUP} "{target_name}" not found'
        )
    if current_obj is None:
        raise OpsFailure(
            f'{engine.catalog_plural}.{engines.CATALOG_GROUP} "{current_name}" not found'
        )
    reason = versions.check_upgrade(
        versions.parse_catalog_object(current_obj),
        versions.parse_catalog_object(target_obj),
        topology=_topology(engine, db),
    )
    if reason is not None:
        raise OpsFailure(f"failed to update version to {target_name}: {reason}")
    return {"version": target_name}


def plan(
    engine: engines.EngineSpec, op: dict[str, Any], db: dict[str, Any], catalog: CatalogLookup
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

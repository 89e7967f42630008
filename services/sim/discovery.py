"""Discovery documents: /version, /api, /api/v1, /apis, /apis/{group}[/{version}].

Legacy (non-aggregated) discovery only: kubectl asks for the aggregated v2 form first and
falls back to these documents when the answer is plain `application/json`. Pure functions
of the resource table.
"""

from __future__ import annotations

from typing import Any

from services.sim.resources import VERBS, ResourceTable, ResourceType

VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-dbaas-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-07-10T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS + (["deletecollection"] if rt.namespaced else []),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(table: ResourceTable, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in table.types if rt.group == group and rt.version == version]
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_resource(rt))
        if rt.has_status:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def api_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _versions(table: ResourceTable, group: str) -> list[str]:
    return sorted({rt.version for rt in table.types if rt.group == group})


def group_list(table: ResourceTable) -> dict[str, Any]:
    groups = sorted(group for group in table.groups() if group)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(group, _versions(table, group)) for group in groups],
    }


def group(table: ResourceTable, name: str) -> dict[str, Any] | None:
    versions = _versions(table, name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}

"""Map Kubernetes REST paths onto resource types: which object, which verb.

    /api/v1[/watch][/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]
    /apis/{group}/{version}[/watch][/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]

`/api/v1/namespaces/{name}` is the Namespace itself, and `/api/v1/namespaces/{name}/status`
its status; any other third segment under a namespace is a namespaced collection. Pure
parsing; unknown paths raise the real server's 404.
"""

from __future__ import annotations

import dataclasses

from services.sim import errors
from services.sim.resources import ResourceTable, ResourceType

SUBRESOURCES = ("status",)


@dataclasses.dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_path: bool

    @property
    def resource_label(self) -> str:
        return f"{self.rt.plural}/{self.subresource}" if self.subresource else self.rt.plural

    def verb(self, method: str, *, watch: bool) -> str:
        if method == "GET":
            if self.name is None:
                return "watch" if watch or self.watch_path else "list"
            return "watch" if self.watch_path else "get"
        if method == "POST" and self.name is None:
            return "create"
        if method == "PUT" and self.name is not None:
            return "update"
        if method == "PATCH" and self.name is not None:
            return "patch"
        if method == "DELETE":
            return "delete" if self.name is not None else "deletecollection"
        raise errors.method_not_allowed(method)


def not_found() -> errors.ApiError:
    return errors.ApiError(
        404, "NotFound", "the server could not find the requested resource", details={}
    )


def parse(table: ResourceTable, group: str, version: str, segments: list[str]) -> Target:
    watch_path = bool(segments) and segments[0] == "watch"
    if watch_path:
        segments = segments[1:]
    namespace: str | None = None
    if (
        len(segments) >= 3
        and segments[0] == "namespaces"
        and not (group == "" and segments[2] in SUBRESOURCES)
    ):
        namespace, segments = segments[1], segments[2:]
    if not segments or len(segments) > 3:
        raise not_found()
    rt = table.find(group, version, segments[0])
    if rt is None:
        raise not_found()
    if namespace is not None and not rt.namespaced:
        raise not_found()
    name = segments[1] if len(segments) >= 2 else None
    if name is not None and rt.namespaced and namespace is None:
        raise not_found()
    subresource = segments[2] if len(segments) == 3 else None
    if subresource is not None and (subresource not in SUBRESOURCES or not rt.has_status):
        raise not_found()
    return Target(rt, namespace, name, subresource, watch_path)

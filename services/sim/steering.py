"""Steering `/sim/...` (what `dbaas sim faults|phase|edit|...` calls): faults, counters,
forced phases, out-of-band edits, reset.

JSON in, JSON out; errors as Kubernetes `Status` bodies like the rest of the server.

    GET    /sim/healthz                 liveness + resourceVersion, validation on/off
    GET    /sim/stats                   request counters, OpsRequest creations, objects
    DELETE /sim/stats                   zero the counters
    GET    /sim/faults                  the current fault document
    POST   /sim/faults                  set faults (each key given replaces that fault)
    DELETE /sim/faults                  clear every fault
    POST   /sim/watches/drop            close every open watch now
    POST   /sim/compact                 forced 410: forget history, end watches with 410
    POST   /sim/phase                   {"resource","namespace","name","phase"}; with
                                        "names" (a list) instead of "name", each of them
    POST   /sim/edit                    {"resource","namespace","name","patch"}: merge patch
                                        through the normal write path (kubectl edit)
    POST   /sim/vanish                  {"resource","namespace","name"}: gone at once,
                                        finalizers and webhooks ignored
    POST   /sim/reset                   everything but the catalog cleared, faults off

It changes the cluster only through `Simulator`, `ApiServer` and `Operator` methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.sim import errors, patching, store
from services.sim.handlers import error_response, json_response
from services.sim.resources import ResourceType

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from services.sim.simulator import Simulator


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = store.decode(raw)
    except ValueError as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


def _target(sim: Simulator, body: dict[str, Any]) -> tuple[ResourceType, str | None, str]:
    resource, name = body.get("resource"), body.get("name")
    if not isinstance(resource, str) or not isinstance(name, str):
        raise errors.bad_request('"resource" and "name" are required strings')
    rt = sim.resources.by_plural(resource)
    if rt is None:
        raise errors.bad_request(f"unknown resource {resource!r}")
    namespace = body.get("namespace") if rt.namespaced else None
    if rt.namespaced and not isinstance(namespace, str):
        raise errors.bad_request(f'"namespace" is required for {rt.plural}')
    return rt, namespace, name


class Steering:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        def route(
            path: str, endpoint: Callable[[Request], Awaitable[Any]], methods: list[str]
        ) -> Route:
            async def handle(request: Request) -> Response:
                try:
                    return json_response(await endpoint(request))
                except errors.ApiError as error:
                    return error_response(error)

            return Route(path, handle, methods=methods)

        return [
            route("/sim/healthz", self.healthz, ["GET"]),
            route("/sim/stats", self.stats, ["GET", "DELETE"]),
            route("/sim/faults", self.faults, ["GET", "POST", "PUT", "DELETE"]),
            route("/sim/watches/drop", self.drop_watches, ["POST"]),
            route("/sim/compact", self.compact, ["POST"]),
            route("/sim/phase", self.phase, ["POST"]),
            route("/sim/edit", self.edit, ["POST"]),
            route("/sim/vanish", self.vanish, ["POST"]),
            route("/sim/reset", self.reset, ["POST"]),
        ]

    async def healthz(self, request: Request) -> dict[str, Any]:
        return {
            "ok": True,
            "resourceVersion": str(self.sim.store.rv),
            "validation": self.sim.validation,
        }

    async def stats(self, request: Request) -> dict[str, Any]:
        sim = self.sim
        if request.method == "DELETE":
            sim.stats.reset()
        document = sim.stats.to_json()
        document.update(
            objects=sim.counts(),
            watches_active=sim.hub.active(),
            resource_version=str(sim.store.rv),
            compacted=str(sim.store.compacted),
            operator_tasks=len(sim.operator.tasks),
        )
        return document

    async def faults(self, request: Request) -> dict[str, Any]:
        faults = self.sim.faults
        if request.method == "DELETE":
            faults.__init__()  # type: ignore[misc]
        elif request.method in ("POST", "PUT"):
            faults.update(await _json(request))
        return faults.to_json()

    async def drop_watches(self, request: Request) -> dict[str, Any]:
        return {"dropped": self.sim.drop_watches()}

    async def compact(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        return self.sim.compact(drop_watches=bool(body.get("drop_watches", True)))

    async def phase(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        names = body.get("names")
        if isinstance(names, list):  # many at once: a benchmark's rate of changes
            if not all(isinstance(name, str) for name in names):
                raise errors.bad_request('"names" must be a list of strings')
            for name in names:
                self._set_phase(body | {"name": name})
            return {"changed": len(names)}
        rt, namespace, name = self._set_phase(body)
        return self.sim.cluster.get(rt, namespace, name).obj

    def _set_phase(self, body: dict[str, Any]) -> tuple[ResourceType, str, str]:
        rt, namespace, name = _target(self.sim, body)
        found = self.sim.operator.db_types.get(rt.key)
        if found is None or namespace is None:
            raise errors.bad_request(f"{rt.plural} is not a database resource")
        self.sim.operator.set_phase(found[1].engine, namespace, name, str(body.get("phase")))
        return rt, namespace, name

    async def edit(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        rt, namespace, name = _target(self.sim, body)
        patch = body.get("patch")
        if not isinstance(patch, dict):
            raise errors.bad_request('"patch" must be a merge-patch object')
        return self.sim.cluster.patch(rt, namespace, name, patch, patching.MERGE).obj

    async def vanish(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        rt, namespace, name = _target(self.sim, body)
        return self.sim.cluster.vanish(rt, namespace, name).obj

    async def reset(self, request: Request) -> dict[str, Any]:
        return await self.sim.reset()

"""The simulated Kubernetes API server + KubeDB operator, served over HTTP on loopback.

Why a focused server and not kmock: kmock (PyPI) has a stateful Kubernetes emulator, but no
resourceVersion conflicts, no label/field selectors and no limit/continue pagination, which
are exactly the behaviours our reconcilers and their tests depend on; extending it would
mean replacing its core. So the simulator is a small Starlette app served by Hypercorn
(already our stack for the REST API), speaking the subset of the Kubernetes API the
official `kubernetes` client and kubectl use, unchanged, through a kubeconfig.

Layout: `store` (etcd: objects, resourceVersion, history), `apiserver` (API semantics),
`watching` (watch fan-out), `handlers` + `routing` + `discovery` + `tables` (HTTP),
`webhooks` (KubeDB's admission webhooks), `operator` + `opsmanager` + `opsplans` + `offshoots`
(the KubeDB operator), `faults` + `steering` (fault injection and counters), `simulator`
(wiring), `schemas` + `schemapack` + `catalog` (CRD validation, the packaged schemas,
preloaded catalog).

This module builds the app and runs it; it must never hold cluster state itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.sim import (
    bearer,
    catalog,
    discovery,
    handlers,
    openapi,
    routing,
    schemapack,
    schemas,
    steering,
)
from services.sim.kubestash import catalog as kubestash_catalog
from services.sim.simulator import Options, Simulator

if TYPE_CHECKING:
    from hypercorn.typing import Framework

log = logging.getLogger(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


PACKED = "packed"
"""`load()`'s `schemas` value for the schema pack shipped in the package (the default)."""


def load(
    crds: Path | str | None = PACKED,
    options: Options | None = None,
    *,
    cache_dir: Path | None = None,
) -> Simulator:
    """A simulator validating against the schema pack (`PACKED`), the CRD files of a
    directory, or nothing (None). A directory without CRDs is an error, not a silent OFF."""
    registry = schema_registry(crds, cache_dir=cache_dir)
    return Simulator(
        validator=registry,
        schemas=registry,
        crds=registry.resources() if registry else [],
        catalog=[*catalog.catalog_objects(), *_kubestash_catalog(registry)],
        options=options or Options(),
    )


def _kubestash_catalog(registry: schemas.SchemaRegistry | None) -> list[dict[str, Any]]:
    """KubeDB's Addons and Functions, when the schemas serve them (not with `--crds DIR`
    of KubeDB CRDs alone, nor `--no-crds`: the KubeStash simulation is off then)."""
    if registry is None or registry.lookup("addons.kubestash.com/v1alpha1", "Addon") is None:
        return []
    return kubestash_catalog.catalog_objects()


def schema_registry(
    crds: Path | str | None, *, cache_dir: Path | None = None
) -> schemas.SchemaRegistry | None:
    if crds is None:
        return None
    if crds == PACKED:
        return schemas.SchemaRegistry([*schemapack.load("kubedb"), *schemapack.load("kubestash")])
    directory = Path(crds)
    if not directory.is_dir():
        raise FileNotFoundError(f"no CRD directory at {directory}")
    registry = schemas.SchemaRegistry.load(directory, cache_dir=cache_dir)
    if not registry.resources():
        raise FileNotFoundError(f"no CustomResourceDefinition in {directory}")
    return registry


def describe_schemas(crds: Path | str | None) -> str:
    """The startup line's account of what the sim validates against."""
    if crds is None:
        return "schema validation OFF (--no-crds)"
    if crds == PACKED:
        return (
            f"schema validation ON (the packaged KubeDB schemas, {schemapack.pack_path('kubedb')}, "
            f"and KubeStash's, {schemapack.pack_path('kubestash')})"
        )
    return f"schema validation ON (CRDs from {crds})"


def build_app(sim: Simulator, *, on_started: Callable[[], None] | None = None) -> Starlette:
    kube = handlers.KubeApi(sim).handle

    async def version(request: Request) -> Response:
        return handlers.json_response(discovery.VERSION)

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    documents = openapi.OpenApi(sim.resources, sim.schemas)

    async def openapi_v2(request: Request) -> Response:
        return Response(documents.v2(), media_type=openapi.V2_PROTOBUF)

    async def openapi_v3_index(request: Request) -> Response:
        return handlers.json_response(openapi.v3_index(documents.v3()))

    async def openapi_v3(request: Request) -> Response:
        body = documents.v3().get(request.path_params["gv"])
        if body is None:
            return handlers.error_response(routing.not_found())
        return Response(body, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            await sim.stop()

    routes = [
        *steering.Steering(sim).routes(),
        Route("/version", version, methods=["GET"]),
        Route("/healthz", ok, methods=["GET"]),
        Route("/livez", ok, methods=["GET"]),
        Route("/readyz", ok, methods=["GET"]),
        Route("/openapi/v2", openapi_v2, methods=["GET"]),
        Route("/openapi/v3", openapi_v3_index, methods=["GET"]),
        Route("/openapi/v3/{gv:path}", openapi_v3, methods=["GET"]),
        Route("/api", kube, methods=METHODS),
        Route("/api/{rest:path}", kube, methods=METHODS),
        Route("/apis", kube, methods=METHODS),
        Route("/apis/{rest:path}", kube, methods=METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 = a free port), so the URL is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    sim: Simulator,
    sock: socket.socket,
    *,
    stopping: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
    token: str | None = None,
) -> None:
    """Serve until `stopping` is set; open watches are closed first so shutdown is quick."""
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("services.sim.http")
    config.graceful_timeout = 2.0
    config.keep_alive_timeout = 120.0
    config.backlog = 1024

    async def shutdown_trigger() -> None:
        await stopping.wait()
        sim.hub.drop_all()

    app: Any = build_app(sim, on_started=on_ready)
    if token is not None:
        app = bearer.RequireToken(app, token=token)
    await hypercorn_serve(cast("Framework", app), config, shutdown_trigger=shutdown_trigger)

"""The Starlette application of the REST API: routes, error handlers, lifespan.

`create_app(settings)` builds one app per Hypercorn worker process. Its lifespan opens that
process's clients (a PostgreSQL pool, the Redis queue, a lazily built Kubernetes client)
without waiting for any of them: the API starts, and answers /healthz, even while
PostgreSQL, Redis or the cluster are down, and recovers when they come back. Nothing here
holds business rules; endpoints call `control` and `store`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from services.api import (
    access,
    auth,
    backup_endpoints,
    console,
    database_endpoints,
    documentation,
    engine_endpoints,
    health,
    keepalive,
    key_endpoints,
    metrics,
    operation_endpoints,
    outages,
    problems,
    quota_endpoints,
    rate_limits,
    slashes,
    whoami_endpoint,
)
from services.api.backends import Backends
from services.control.errors import ControlError
from services.domain.errors import ValidationFailed
from services.settings import Settings

Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(**handlers: Endpoint) -> Endpoint:
    """One endpoint per path, dispatching on the method (HEAD is answered by GET)."""
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table["HEAD"] = table["GET"]

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    dispatch.__name__ = dispatch.__qualname__ = "_".join(h.__name__ for h in handlers.values())
    dispatch.handlers = table  # type: ignore[attr-defined]  # openapi.py documents each
    return dispatch


def routes() -> list[Route]:
    """Every route of the API, hottest first (Starlette tries them in order); openapi.py
    documents exactly these, and a test holds the two equal."""
    db = database_endpoints
    ops = operation_endpoints
    bk = backup_endpoints
    return [
        Route(
            "/v1/databases/{id}",
            by_method(get=db.get_database, patch=db.update_database, delete=db.delete_database),
            methods=["GET", "PATCH", "DELETE"],
        ),
        Route(
            "/v1/databases",
            by_method(get=db.list_databases, post=db.create_database),
            methods=["GET", "POST"],
        ),
        Route("/v1/operations/{id}", ops.get_operation, methods=["GET"]),
        Route("/v1/operations", ops.list_operations, methods=["GET"]),
        Route("/v1/databases/{id}/operations", db.list_database_operations, methods=["GET"]),
        Route("/v1/databases/{id}/events", db.list_database_events, methods=["GET"]),
        Route("/v1/databases/{id}/restart", db.restart_database, methods=["POST"]),
        Route("/v1/databases/{id}/credentials", db.get_credentials, methods=["GET"]),
        Route("/v1/operations/{id}/cancel", ops.cancel_operation, methods=["POST"]),
        Route(
            "/v1/databases/{id}/backups",
            by_method(get=bk.list_database_backups, post=bk.create_backup),
            methods=["GET", "POST"],
        ),
        Route("/v1/backups/{id}", bk.get_backup, methods=["GET"]),
        Route("/v1/backups", bk.list_backups, methods=["GET"]),
        Route("/v1/engines", engine_endpoints.list_engines, methods=["GET"]),
        Route("/v1/whoami", whoami_endpoint.whoami, methods=["GET"]),
        Route("/v1/quota", quota_endpoints.get_quota, methods=["GET"]),
        Route(
            "/v1/projects/{project}/quota",
            by_method(
                get=quota_endpoints.get_project_quota, patch=quota_endpoints.patch_project_quota
            ),
            methods=["GET", "PATCH"],
        ),
        Route(
            "/v1/keys",
            by_method(get=key_endpoints.list_keys, post=key_endpoints.create_key),
            methods=["GET", "POST"],
        ),
        Route("/v1/keys/{id}", key_endpoints.revoke_key, methods=["DELETE"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", documentation.openapi_json, methods=["GET"]),
        Route("/docs", documentation.docs_page, methods=["GET"]),
    ]


def create_app(
    settings: Settings,
    *,
    metrics_dir: Path | None = None,
    auth_ttl: float = auth.DEFAULT_TTL_SECONDS,
    catalog_ttl: float | None = None,
) -> Starlette:
    """The API app. `metrics_dir`: prometheus multiprocess directory (see `metrics`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = Backends(settings, auth_ttl=auth_ttl, catalog_ttl=catalog_ttl)
        app.state.backends = backends
        try:
            await backends.open()
            yield
        finally:
            await backends.aclose()

    table = routes() + console.routes()
    templates = {route.endpoint: route.path for route in table}
    handlers = {
        problems.Problem: problems.on_problem,
        ControlError: problems.on_control_error,
        ValidationFailed: problems.on_validation_failed,
        HTTPException: problems.on_http_exception,
        ClientDisconnect: problems.on_client_disconnect,
        Exception: problems.on_unexpected,
    }
    handlers |= {exc: problems.on_store_unavailable for exc in outages.STORE_DOWN}
    handlers |= {exc: problems.on_queue_unavailable for exc in outages.QUEUE_DOWN}
    handlers |= {exc: problems.on_conflict for exc in outages.CONFLICTS}
    app = Starlette(
        routes=table,
        middleware=[
            Middleware(slashes.IgnoreTrailingSlash, keep=console.SLASHED_PATHS),
            Middleware(access.AccessLog, templates=templates),
            Middleware(rate_limits.RateLimit, settings=settings),
            Middleware(keepalive.CloseWhenBodyUnread),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    # A redirect to the slash-less path would be built from the client's Host header; a
    # trailing slash is dropped instead (slashes.IgnoreTrailingSlash).
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.metrics_dir = metrics_dir
    return app

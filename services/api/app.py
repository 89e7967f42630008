"""The Starlette application of the REST API: routes, error handlers, lifespan.

`create_app(settings)` builds one app per Hypercorn worker process. Its lifespan opens that
process's clients (a PostgreSQL pool, the Redis queue, a lazily built Kubernetes client)
without waiting for any of them: the API starts, and answers /healthz, even while
PostgreSQL, Redis or the cluster are down, and recovers when they come back. Nothing here
holds business rules; endpoints call `control` and `store`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from services.api import (
    access,
    auth,
    database_endpoints,
    documentation,
    engine_endpoints,
    health,
    metrics,
    operation_endpoints,
    outages,
    problems,
)
from services.api.backends import Backends
from services.control.errors import ControlError
from services.domain.errors import ValidationFailed
from services.settings import Settings


def routes() -> list[Route]:
    """Every route of the API (openapi.py documents exactly these; a test holds them equal)."""
    db = database_endpoints
    ops = operation_endpoints
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", documentation.openapi_json, methods=["GET"]),
        Route("/docs", documentation.docs_page, methods=["GET"]),
        Route("/v1/databases", db.list_databases, methods=["GET"]),
        Route("/v1/databases", db.create_database, methods=["POST"]),
        Route("/v1/databases/{id}", db.get_database, methods=["GET"]),
        Route("/v1/databases/{id}", db.update_database, methods=["PATCH"]),
        Route("/v1/databases/{id}", db.delete_database, methods=["DELETE"]),
        Route("/v1/databases/{id}/restart", db.restart_database, methods=["POST"]),
        Route("/v1/databases/{id}/operations", db.list_database_operations, methods=["GET"]),
        Route("/v1/databases/{id}/events", db.list_database_events, methods=["GET"]),
        Route("/v1/databases/{id}/credentials", db.get_credentials, methods=["GET"]),
        Route("/v1/operations", ops.list_operations, methods=["GET"]),
        Route("/v1/operations/{id}", ops.get_operation, methods=["GET"]),
        Route("/v1/operations/{id}/cancel", ops.cancel_operation, methods=["POST"]),
        Route("/v1/engines", engine_endpoints.list_engines, methods=["GET"]),
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
            yield
        finally:
            backends.close()

    table = routes()
    templates = {route.endpoint: route.path for route in table}
    handlers = {
        problems.Problem: problems.on_problem,
        ControlError: problems.on_control_error,
        ValidationFailed: problems.on_validation_failed,
        HTTPException: problems.on_http_exception,
        Exception: problems.on_unexpected,
    }
    handlers |= {exc: problems.on_store_unavailable for exc in outages.STORE_DOWN}
    handlers |= {exc: problems.on_queue_unavailable for exc in outages.QUEUE_DOWN}
    app = Starlette(
        routes=table,
        middleware=[Middleware(access.AccessLog, templates=templates)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics_dir = metrics_dir
    return app

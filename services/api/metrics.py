"""Prometheus metrics of the API: request counts and latencies by route template, followed
by the pod's dbaas_* series (`pod_metrics`: operations, queue, programs, leaders, ...).

Several Hypercorn worker processes serve one port, so a scrape reaches one of them at
random. `dbaas api` therefore runs prometheus_client in multiprocess mode: it points
`PROMETHEUS_MULTIPROC_DIR` at an empty directory under `$DBAAS_HOME` before the workers
start, each worker writes its samples there, and /metrics sums every worker's files. When
the app runs without that directory (tests, one process) /metrics shows this process only.
Labels are route templates, never raw paths, so ids cannot explode the series count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from services.api import pod_metrics
from services.api.backends import Backends
from services.api.replies import backends_of

REQUESTS = Counter(
    "dbaas_api_requests_total", "HTTP requests answered", ("method", "route", "status")
)
LATENCY = Histogram(
    "dbaas_api_request_duration_seconds",
    "Time to answer an HTTP request",
    ("method", "route"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    # labels() validates and locks on every call; the few label sets are kept instead.
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def render(multiprocess_dir: Path | None) -> bytes:
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def render_pod(backends: Backends) -> bytes:
    """The pod's dbaas_* series (`pod_metrics`), read from their sources now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(pod_metrics.PodCollector(backends))
    return generate_latest(registry)


async def endpoint(request: Request) -> Response:
    directory: Path | None = request.app.state.metrics_dir
    backends = backends_of(request)
    # blocking reads (PostgreSQL, supervisord's socket, files): off the event loop
    pod = await anyio.to_thread.run_sync(render_pod, backends)
    return Response(render(directory) + pod, media_type=CONTENT_TYPE_LATEST)

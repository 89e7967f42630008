"""The API's view of the Kubernetes cluster: a lazily built client and a cached catalog.

Why: the API must start, and serve everything that needs only PostgreSQL, while the cluster
is unreachable or not configured; so the client is built on first use and a failure there
becomes a 503 problem for that request only. The version catalog changes rarely and is read
on every create and patch, so it is cached for `ttl` seconds per process. Everything here
blocks: call it from a worker thread, never from the event loop.

The Kubernetes client is imported on first use too, never at import: it is the largest
part of an API worker's memory (bench/README.md), and a worker that only serves reads never
needs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from services.api import problems
from services.control import errors as control_errors
from services.domain import engines, resources, versions

if TYPE_CHECKING:  # imported where it is used: see the module docstring
    from services.clients import kube

log = logging.getLogger(__name__)

Catalog = Mapping[str, Sequence[versions.CatalogVersion]]
CATALOG_TTL_SECONDS = 30.0


class ClusterAccess:
    """Builds the KubeClient on first use (retrying on later calls when that failed)."""

    def __init__(self, kubeconfig: str | None) -> None:
        self._kubeconfig = kubeconfig
        self._cluster: kube.KubeClient | None = None
        self._lock = threading.Lock()

    def get(self) -> kube.KubeClient:
        with self._lock:
            if self._cluster is None:
                try:
                    from services.clients import kube

                    self._cluster = kube.KubeClient(kube.load_api_client(self._kubeconfig))
                except Exception as exc:  # missing/invalid kubeconfig, not in a cluster...
                    log.warning("cluster: cannot build a client: %s", exc)
                    raise problems.Problem(
                        "cluster-unavailable", "the Kubernetes cluster is not reachable"
                    ) from exc
            return self._cluster

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None


class CatalogCache:
    """Engine → catalog versions (deprecated ones included: validation needs to name them)."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        ttl: float = CATALOG_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._access = access
        self.ttl = ttl
        self._clock = clock
        self._catalog: Catalog | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> Catalog | None:
        """The cached catalog when it has not expired (no I/O: safe in the event loop)."""
        if self._catalog is not None and self._clock() < self._expires_at:
            return self._catalog
        return None

    def get(self) -> Catalog:
        """The catalog, reading the cluster when the cache expired; 503 when it cannot."""
        catalog = self.fresh()
        if catalog is not None:
            return catalog
        with self._lock:  # one thread refreshes; the others then find it fresh
            catalog = self.fresh()
            if catalog is None:
                catalog = self._read()
                self._catalog, self._expires_at = catalog, self._clock() + self.ttl
            return catalog

    def _read(self) -> Catalog:
        try:
            cluster = self._access.get()
        except problems.Problem as exc:
            raise control_errors.CatalogUnavailable(
                "the version catalog cannot be read: the cluster is not reachable"
            ) from exc
        catalog: dict[str, list[versions.CatalogVersion]] = {}
        for engine, spec in engines.ENGINES.items():
            try:
                items, _ = cluster.list_all(resources.catalog_resource(spec))
            except Exception as exc:  # KubeError, or urllib3's connection errors
                log.warning("catalog: cannot list %s: %s", spec.catalog_plural, exc)
                raise control_errors.CatalogUnavailable(
                    "the version catalog cannot be read from the cluster; retry later"
                ) from exc
            entries = []
            for item in items:
                try:
                    entries.append(versions.parse_catalog_object(item))
                except ValueError as exc:
                    log.warning("catalog: skipping a malformed %s: %s", spec.catalog_kind, exc)
            catalog[engine.value] = sorted(entries, key=_newest_first)
        return catalog


def _newest_first(entry: versions.CatalogVersion) -> tuple[int, int, int, str]:
    try:
        parsed = versions.parse_version(entry.version)
    except ValueError:
        return (0, 0, 0, entry.name)
    return (-parsed.major, -parsed.minor, -parsed.patch, entry.name)

"""GET /v1/engines: the engines dbaas offers and the catalog versions a new database may use.

The versions come from the cluster's KubeDB catalog (cached, see `cluster_access.CatalogCache`);
deprecated ones are hidden because KubeDB refuses to create databases on them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, replies
from services.api.cluster_access import Catalog
from services.api.database_endpoints import catalog_of
from services.api.encoding import JSONResponse
from services.domain import engines


def engine_list(catalog: Catalog) -> dict[str, Any]:
    items = []
    for engine, spec in engines.ENGINES.items():
        versions = [
            {
                "name": entry.name,
                "version": entry.version,
                "distribution": entry.distribution,
                "end_of_life": entry.end_of_life,
            }
            for entry in catalog.get(engine.value, ())
            if not entry.deprecated
        ]
        items.append(
            {
                "name": engine.value,
                "kind": spec.kind,
                "port": spec.port,
                "replicas": {
                    "standalone": spec.standalone.minimum,
                    "replicated": {
                        "minimum": spec.replicated.minimum,
                        "maximum": spec.replicated.maximum,
                        "topology": spec.replicated_topology,
                    },
                },
                "versions": versions,
            }
        )
    return {"items": items}


async def list_engines(request: Request) -> Response:
    caller = replies.begin(request)
    await caller.backends.principal(caller.token, auth.VIEWER)
    return JSONResponse(engine_list(await catalog_of(caller.backends)))

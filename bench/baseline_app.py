"""The bare baseline of bench/api_throughput.py: Starlette + Hypercorn + psycopg, nothing else.

Why: "is the API fast?" only has an answer next to the fastest thing built from the same
parts. This app serves the same two reads as the API (one database by id, the first page
of a project's list) with the same queries, the same response bodies byte for byte (the
benchmark checks) and the same Hypercorn worker count and keep-alive, but no
authentication, no access log, no metrics, no error mapping, no thread hops beyond what the
driver mode needs. It must never grow features: every line added here hides API overhead.

Two driver modes (BENCH_BASELINE_DRIVER):
- `async` (default): psycopg's AsyncConnectionPool awaited on the event loop; the fastest
  idiomatic bare endpoint, so the target ratio is measured against it.
- `sync`: a psycopg ConnectionPool used from Starlette's thread pool, the API's own
  architecture; the gap between the two modes is what the architecture costs.

    BENCH_BASELINE_DATABASE_URL=... BENCH_BASELINE_PROJECT=bench BENCH_BASELINE_PORT=8100 \\
    BENCH_BASELINE_WORKERS=2 python bench/baseline_app.py
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ONE = "SELECT * FROM databases WHERE id = %s AND project_id = %s"
PAGE = (
    "SELECT id, name, engine, version, replicas, storage, cpu, memory, deletion_policy,"
    " drift_policy, backup, generation, state, phase, observed_generation, observed_spec, endpoint,"
    " conditions, status_message, synced_at, created_at, updated_at"
    " FROM databases WHERE project_id = %s AND state <> 'deleted'"
    " ORDER BY created_at, id LIMIT %s"
)
WINDOW = "SELECT earliest, latest FROM restorable_windows WHERE database_id = %s"
PITR_ENGINES = frozenset({"postgres", "mysql", "mongodb"})  # services/domain/backups.py
POOL_MAX_SIZE = 16  # as services/api/backends.py


def _dumps(content: Any) -> Response:
    # orjson with `Z` for UTC, as the API: the same bytes on the wire, not just the same fields
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")


def _database(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's representation of a database (services/api/representations.py)."""
    path = f"/v1/databases/{row['id']}"
    return {
        "id": row["id"],
        "name": row["name"],
        "engine": row["engine"],
        "version": row["version"],
        "replicas": row["replicas"],
        "storage": row["storage"],
        "resources": {"cpu": row["cpu"], "memory": row["memory"]},
        "deletion_policy": row["deletion_policy"],
        "drift_policy": row["drift_policy"],
        "backup": row["backup"],
        "generation": row["generation"],
        "state": row["state"],
        "status": {
            "phase": row["phase"],
            "observed_generation": row["observed_generation"],
            "observed": row["observed_spec"],
            "endpoint": row["endpoint"],
            "conditions": row["conditions"],
            "message": row["status_message"],
            "synced_at": row["synced_at"],
        },
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "links": {
            "self": path,
            "operations": f"{path}/operations",
            "events": f"{path}/events",
            "credentials": f"{path}/credentials",
            "backups": f"{path}/backups",
        },
    }


def _cursor(row: Mapping[str, Any]) -> str:
    """The API's opaque cursor after `row` (services/api/query_params.py)."""
    position = {"k": "databases", "t": row["created_at"].isoformat(), "i": str(row["id"])}
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def create_app() -> Starlette:
    url = os.environ["BENCH_BASELINE_DATABASE_URL"]
    project = os.environ["BENCH_BASELINE_PROJECT"]
    driver = os.environ.get("BENCH_BASELINE_DRIVER", "async")
    if driver not in ("async", "sync"):
        raise SystemExit(f"BENCH_BASELINE_DRIVER={driver!r}: expected async or sync")
    pools: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        kwargs = {"row_factory": dict_row, "autocommit": True}
        if driver == "async":
            pool = AsyncConnectionPool(url, max_size=POOL_MAX_SIZE, kwargs=kwargs, open=False)
            await pool.open()
            pools["async"] = pool
        else:
            pools["sync"] = ConnectionPool(url, max_size=POOL_MAX_SIZE, kwargs=kwargs)
        try:
            yield
        finally:
            if driver == "async":
                await pools["async"].close()
            else:
                pools["sync"].close()

    async def fetch(query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        if driver == "async":
            async with pools["async"].connection() as conn:
                cursor = await conn.execute(query, params)
                return list(await cursor.fetchall())

        def blocking() -> list[dict[str, Any]]:
            with pools["sync"].connection() as conn:
                return list(conn.execute(query, params).fetchall())

        return await run_in_threadpool(blocking)

    async def get_one(request: Request) -> Response:
        try:
            database_id = uuid.UUID(request.path_params["id"])
        except ValueError:
            return JSONResponse({"detail": "not a UUID"}, status_code=400)
        rows = await fetch(ONE, (database_id, project))
        if not rows:
            return JSONResponse({"detail": "not found"}, status_code=404)
        window = None  # as the API: a second query for an engine with point-in-time recovery
        if rows[0]["engine"] in PITR_ENGINES:
            found = await fetch(WINDOW, (database_id,))
            if found:
                window = {
                    "earliest": found[0]["earliest"].isoformat().replace("+00:00", "Z"),
                    "latest": found[0]["latest"].isoformat().replace("+00:00", "Z"),
                }
        return _dumps(_database(rows[0]) | {"restorable_window": window})

    async def list_page(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "20"))
        rows = await fetch(PAGE, (project, limit + 1))
        next_cursor = _cursor(rows[limit - 1]) if len(rows) > limit else None
        return _dumps(
            {"items": [_database(row) for row in rows[:limit]], "next_cursor": next_cursor}
        )

    return Starlette(
        routes=[
            Route("/v1/databases", list_page, methods=["GET"]),
            Route("/v1/databases/{id}", get_one, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> int:
    from hypercorn.config import Config
    from hypercorn.run import run

    config = Config()
    config.bind = [f"127.0.0.1:{os.environ['BENCH_BASELINE_PORT']}"]
    config.workers = int(os.environ.get("BENCH_BASELINE_WORKERS", "2"))
    config.application_path = "bench.baseline_app:create_app()"
    config.keep_alive_timeout = 30  # as services/commands/api.py
    config.accesslog = None
    return run(config)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

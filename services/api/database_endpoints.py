"""HTTP endpoints of `/v1/databases` and its sub-resources.

Each handler first checks what it can without I/O (`replies.begin` or `begin_on`: key
present, ids, Idempotency-Key, query strings), then does its I/O in as few worker-thread
hops as possible: reads in one (`Backends.call`; none for the two hottest with a cached
key, `Backends.read`), writes after the role check, the body and the catalog. Order of
refusals: 401 missing key, 401/403 key, 413/415 body, 400 JSON, 503 catalog, then what the
use case says (404, 409, 412, 422).
A PATCH reads the catalog only when it names a version: scaling, resizing or a policy
change is recorded while the cluster is unreachable, and the worker applies it later.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.api import (
    auth,
    bodies,
    credentials,
    mutations,
    query_params,
    reads,
    replies,
    representations,
)
from services.api.backends import Backends
from services.api.cluster_access import Catalog
from services.api.encoding import JSONResponse
from services.api.replies import if_match
from services.control import errors as control_errors
from services.domain import engines, lifecycle
from services.domain.records import OperationState
from services.store import databases

DATABASE_STATES = tuple(state.value for state in lifecycle.State)
OPERATION_STATES = tuple(state.value for state in OperationState)
ENGINE_NAMES = tuple(engine.value for engine in engines.Engine)


NO_CATALOG: Catalog = {}
"""The catalog a patch without a version gets: only a version change reads it."""


async def catalog_of(backends: Backends) -> Catalog:
    catalog = backends.catalog.fresh()
    if catalog is None:
        catalog = await run_in_threadpool(backends.catalog.get)
    return catalog


async def list_databases(request: Request) -> Response:
    caller = replies.begin(request, allowed=("limit", "cursor", "engine", "state", "name"))
    where = databases.ListFilter(
        engine=query_params.choice(caller.params, "engine", ENGINE_NAMES),
        state=query_params.choice(caller.params, "state", DATABASE_STATES),
        name=query_params.text(caller.params, "name"),
    )
    page = await caller.backends.read(
        caller.token,
        auth.VIEWER,
        reads.list_databases_async,
        reads.list_databases,
        limit=query_params.limit(caller.params),
        after=query_params.time_id_cursor(caller.params, reads.DATABASES_CURSOR),
        where=where,
    )
    return JSONResponse(page)


async def create_database(request: Request) -> Response:
    caller = replies.begin(request, idempotent=True)
    principal = await caller.backends.principal(caller.token, auth.OPERATOR)
    body = bodies.parse(await bodies.read_limited(request, caller.backends.settings))
    catalog: Catalog | None = None
    catalog_error: control_errors.ControlError | None = None
    try:
        catalog = await catalog_of(caller.backends)
    except control_errors.ControlError as exc:
        catalog_error = exc  # a keyed retry may still be replayed without the catalog
    reply = await run_in_threadpool(
        mutations.create,
        caller.backends,
        principal,
        body,
        catalog=catalog,
        catalog_error=catalog_error,
        key=caller.key,
        fingerprint=mutations.request_hash("POST", request.url.path, body),
    )
    return reply.response()


async def get_database(request: Request) -> Response:
    caller, database_id = replies.begin_on(request)
    record, window = await caller.backends.read(
        caller.token,
        auth.VIEWER,
        reads.database_with_window_async,
        reads.database_with_window,
        database_id,
    )
    response = JSONResponse(representations.database_with_window(record, window))
    response.raw_headers.append((b"etag", record.etag.encode()))  # no header dict to convert
    return response


async def update_database(request: Request) -> Response:
    caller, database_id = replies.begin_on(request)
    principal = await caller.backends.principal(caller.token, auth.OPERATOR)
    body = bodies.parse(await bodies.read_limited(request, caller.backends.settings))
    names_version = isinstance(body, dict) and "version" in body
    catalog = await catalog_of(caller.backends) if names_version else NO_CATALOG
    reply = await run_in_threadpool(
        mutations.update,
        caller.backends,
        principal,
        database_id,
        body,
        if_match=if_match(request),
        catalog=catalog,
    )
    return reply.response()


async def delete_database(request: Request) -> Response:
    caller, database_id = replies.begin_on(request)
    principal = await caller.backends.principal(caller.token, auth.OPERATOR)
    reply = await run_in_threadpool(
        mutations.delete, caller.backends, principal, database_id, if_match=if_match(request)
    )
    return reply.response()


async def restart_database(request: Request) -> Response:
    caller, database_id = replies.begin_on(request, idempotent=True)
    principal = await caller.backends.principal(caller.token, auth.OPERATOR)
    reply = await run_in_threadpool(
        mutations.restart,
        caller.backends,
        principal,
        database_id,
        key=caller.key,
        fingerprint=mutations.request_hash("POST", request.url.path, None),
    )
    return reply.response()


async def list_database_operations(request: Request) -> Response:
    caller, database_id = replies.begin_on(request, allowed=("limit", "cursor", "state"))
    page = await caller.backends.call(
        caller.token,
        auth.VIEWER,
        reads.list_database_operations,
        database_id,
        limit=query_params.limit(caller.params),
        after_seq=query_params.sequence_cursor(caller.params, reads.OPERATIONS_CURSOR),
        state=query_params.choice(caller.params, "state", OPERATION_STATES),
    )
    return JSONResponse(page)


async def list_database_events(request: Request) -> Response:
    caller, database_id = replies.begin_on(request, allowed=("limit", "cursor"))
    page = await caller.backends.call(
        caller.token,
        auth.VIEWER,
        reads.list_events,
        database_id,
        limit=query_params.limit(caller.params),
        after_id=query_params.sequence_cursor(caller.params, reads.EVENTS_CURSOR),
    )
    return JSONResponse(page)


async def get_credentials(request: Request) -> Response:
    caller, database_id = replies.begin_on(request)
    record, principal = await caller.backends.call(
        caller.token, auth.OPERATOR, credentials.load, database_id
    )
    body = await run_in_threadpool(credentials.disclose, caller.backends, principal, record)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})

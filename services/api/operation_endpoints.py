"""HTTP endpoints of `/v1/operations`: list, read, and cancel a pending operation."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, query_params, reads, representations
from services.api.database_endpoints import OPERATION_STATES
from services.api.encoding import JSONResponse
from services.api.replies import backends_of, path_id
from services.clients import postgres
from services.clients.postgres import Connection
from services.control import outcomes
from services.domain.records import OperationRecord, Principal


async def list_operations(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    params = query_params.check_known(request, ("limit", "cursor", "state", "database"))
    page = await backends.call(
        token,
        auth.VIEWER,
        reads.list_operations,
        limit=query_params.limit(params),
        after_seq=query_params.sequence_cursor(params, reads.OPERATIONS_CURSOR),
        database_id=query_params.identifier(params, "database"),
        state=query_params.choice(params, "state", OPERATION_STATES),
    )
    return JSONResponse(page)


async def get_operation(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    operation_id = path_id(request)
    query_params.check_known(request)
    record = await backends.call(token, auth.VIEWER, reads.get_operation, operation_id)
    return JSONResponse(representations.operation(record))


def _cancel(conn: Connection, principal: Principal, operation_id: uuid.UUID) -> OperationRecord:
    return postgres.retry_conflicts(
        lambda: outcomes.cancel_operation(conn, principal, operation_id)
    )


async def cancel_operation(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    operation_id = path_id(request)
    query_params.check_known(request)
    record = await backends.call(token, auth.OPERATOR, _cancel, operation_id)
    return JSONResponse(representations.operation(record))

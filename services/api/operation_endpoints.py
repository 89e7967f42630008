"""HTTP endpoints of `/v1/operations`: list, read, and cancel a pending operation."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, query_params, reads, replies, representations
from services.api.database_endpoints import OPERATION_STATES
from services.api.encoding import JSONResponse
from services.clients import postgres
from services.clients.postgres import Connection
from services.control import outcomes
from services.domain.records import OperationRecord, Principal


async def list_operations(request: Request) -> Response:
    caller = replies.begin(request, allowed=("limit", "cursor", "state", "database"))
    page = await caller.backends.call(
        caller.token,
        auth.VIEWER,
        reads.list_operations,
        limit=query_params.limit(caller.params),
        after_seq=query_params.sequence_cursor(caller.params, reads.OPERATIONS_CURSOR),
        database_id=query_params.identifier(caller.params, "database"),
        state=query_params.choice(caller.params, "state", OPERATION_STATES),
    )
    return JSONResponse(page)


async def get_operation(request: Request) -> Response:
    caller, operation_id = replies.begin_on(request)
    record = await caller.backends.call(
        caller.token, auth.VIEWER, reads.get_operation, operation_id
    )
    return JSONResponse(representations.operation(record))


def _cancel(conn: Connection, principal: Principal, operation_id: uuid.UUID) -> OperationRecord:
    return postgres.retry_conflicts(
        lambda: outcomes.cancel_operation(conn, principal, operation_id)
    )


async def cancel_operation(request: Request) -> Response:
    caller, operation_id = replies.begin_on(request)
    record = await caller.backends.call(caller.token, auth.OPERATOR, _cancel, operation_id)
    return JSONResponse(representations.operation(record))

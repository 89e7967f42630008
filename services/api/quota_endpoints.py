"""`GET /v1/quota`: the caller's project's limits and what it uses of them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, replies
from services.api.encoding import JSONResponse
from services.clients.postgres import Connection
from services.control import quotas
from services.domain import quotas as rules
from services.domain.records import Principal


def _report(conn: Connection, principal: Principal, defaults: rules.Limits) -> dict[str, object]:
    return quotas.report(conn, principal.project_id, defaults)


async def get_quota(request: Request) -> Response:
    caller = replies.begin(request)
    body = await caller.backends.call(caller.token, auth.VIEWER, _report, caller.backends.quota)
    return JSONResponse(body)

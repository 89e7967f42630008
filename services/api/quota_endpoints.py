"""`GET /v1/quota`: the caller's project's limits and what it uses of them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, query_params
from services.api.encoding import JSONResponse
from services.api.replies import backends_of
from services.clients.postgres import Connection
from services.control import quotas
from services.domain import quotas as rules
from services.domain.records import Principal


def _report(conn: Connection, principal: Principal, defaults: rules.Limits) -> dict[str, object]:
    return quotas.report(conn, principal.project_id, defaults)


async def get_quota(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    query_params.check_known(request)
    body = await backends.call(token, auth.VIEWER, _report, backends.quota)
    return JSONResponse(body)

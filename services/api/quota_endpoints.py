"""Quotas: `GET /v1/quota`, the caller's project's limits and what it uses of them; and
`/v1/projects/{project}/quota`, where the platform team's admins read and override any
project's limits (`control.quotas.require_platform_admin` says who may)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, bodies, replies
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


async def get_project_quota(request: Request) -> Response:
    caller = replies.begin(request)
    project = request.path_params["project"]
    platform = caller.backends.settings.platform_project

    def read(conn: Connection, principal: Principal) -> dict[str, object]:
        return quotas.report_for_platform(
            conn, principal, project, defaults=caller.backends.quota, platform_project=platform
        )

    return JSONResponse(await caller.backends.call(caller.token, auth.ADMIN, read))


async def patch_project_quota(request: Request) -> Response:
    caller = replies.begin(request)
    project = request.path_params["project"]
    platform = caller.backends.settings.platform_project
    await caller.backends.principal(caller.token, auth.ADMIN)  # 401/403 before the body is read
    body = bodies.parse(await bodies.read_limited(request, caller.backends.settings))

    def change(conn: Connection, principal: Principal) -> dict[str, Any]:
        return quotas.override(
            conn,
            principal,
            project,
            body,
            defaults=caller.backends.quota,
            platform_project=platform,
        )

    return JSONResponse(await caller.backends.call(caller.token, auth.ADMIN, change))

"""`/v1/keys`: a project's admins issue, list and revoke the project's API keys.

The key itself is in the answer to its creation and nowhere else (stored hashed). A
revocation answers once every API process has confirmed it forgot the key
(`revocation.confirmed` of `revocation.processes`), so the key is refused everywhere
from then on; with Redis down the caches' expiry bounds it instead (`Backends`).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, bodies, replies
from services.api.encoding import JSONResponse
from services.clients.postgres import Connection
from services.control import keys as use_cases
from services.domain.records import Principal
from services.store import keys


def representation(info: keys.KeyInfo) -> dict[str, Any]:
    state = "revoked" if info.revoked_at else "active"
    return {
        "id": info.id,
        "name": info.description,
        "prefix": info.prefix,
        "role": info.role,
        "state": state,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "last_used_at": info.last_used_at,
        "revoked_at": info.revoked_at,
    }


def _list(conn: Connection, principal: Principal) -> list[keys.KeyInfo]:
    return keys.list_keys(conn, project_id=principal.project_id)


async def list_keys(request: Request) -> Response:
    caller = replies.begin(request)
    found = await caller.backends.call(caller.token, auth.ADMIN, _list)
    return JSONResponse({"items": [representation(info) for info in found]})


async def create_key(request: Request) -> Response:
    caller = replies.begin(request)
    await caller.backends.principal(caller.token, auth.ADMIN)  # 401/403 before the body is read
    body = bodies.parse(await bodies.read_limited(request, caller.backends.settings))

    def issue(conn: Connection, principal: Principal) -> tuple[str, keys.KeyInfo]:
        return use_cases.issue_key(conn, principal, body)

    secret, info = await caller.backends.call(caller.token, auth.ADMIN, issue)
    answer = representation(info) | {"key": secret}
    return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})


def _revoke(conn: Connection, principal: Principal, key_id: uuid.UUID) -> keys.KeyInfo:
    return use_cases.revoke_key(conn, principal, key_id)


async def revoke_key(request: Request) -> Response:
    caller, key_id = replies.begin_on(request)
    info = await caller.backends.call(caller.token, auth.ADMIN, _revoke, key_id)
    reached, confirmed = await run_in_threadpool(caller.backends.announce_revocation, info.id)
    answer = representation(info) | {"revocation": {"processes": reached, "confirmed": confirmed}}
    return JSONResponse(answer)

"""GET /v1/whoami: the project and role of the calling key.

Why: a client (the web console, a script) must know what its key may do before it offers
an action, and a viewer cannot list keys to find out. Any live key may ask; the answer
names nothing but the key's own identity (never the key itself).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, query_params
from services.api.encoding import JSONResponse
from services.api.replies import backends_of


async def whoami(request: Request) -> Response:
    backends = backends_of(request)
    token = auth.bearer_token(request)
    query_params.check_known(request)
    principal = await backends.principal(token, auth.VIEWER)
    return JSONResponse(
        {"project": principal.project_id, "role": principal.role, "key_id": principal.key_id}
    )

"""GET /v1/whoami: the project and role of the calling key.

Why: a client (the web console, a script) must know what its key may do before it offers
an action, and a viewer cannot list keys to find out. Any live key may ask; the answer
names nothing but the key's own identity (never the key itself).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from services.api import auth, replies
from services.api.encoding import JSONResponse


async def whoami(request: Request) -> Response:
    caller = replies.begin(request)
    principal = await caller.backends.principal(caller.token, auth.VIEWER)
    return JSONResponse(
        {"project": principal.project_id, "role": principal.role, "key_id": principal.key_id}
    )

"""An optional bearer token on the simulated cluster's Kubernetes API (`dbaas sim
--require-token`).

Why: the simulated cluster serves Secrets (database passwords) to whoever asks. As a test
bed on loopback that may be acceptable, but only if it says so; with a token the
Kubernetes paths (`/api`, `/apis`) answer 401 Unauthorized, as an API server does, to a
request without the kubeconfig's token. Steering (`/sim/...`), `/version`, the health
paths and the OpenAPI documents stay open: they carry no object of the cluster.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

PROTECTED = ("/api/", "/apis/")
UNAUTHORIZED = json.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
).encode()


class RequireToken:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path + "/").startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if hmac.compare_digest(given.strip(), self.expected):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(UNAUTHORIZED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": UNAUTHORIZED})

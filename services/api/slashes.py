"""`/v1/databases/` answers as `/v1/databases` does: the trailing slash is dropped before
routing, so no redirect is ever built (a redirect would be built from the Host header)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class IgnoreTrailingSlash:
    def __init__(self, app: ASGIApp, *, keep: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.keep = keep  # paths whose slash means something (the console's /ui/)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and len(path) > 1
            and path.endswith("/")
            and path not in self.keep
        ):
            stripped = path.rstrip("/") or "/"
            scope = dict(scope, path=stripped)
            raw: bytes | None = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)

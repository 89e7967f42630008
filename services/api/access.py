"""One log line and one metrics sample per request, as a bare ASGI wrapper.

A plain ASGI callable (not BaseHTTPMiddleware) because it wraps every request and must cost
next to nothing. It logs method, path, status and milliseconds: never headers (the
Authorization header carries a key), never query strings or bodies. The path is the
client's text: the log formatter escapes its control characters (`services.logs`), and the
JSON format gets the fields as keys of their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api import metrics

log = logging.getLogger("services.api.access")
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LINE = "%s %s %s %.1fms"
WRITER = "write_line"  # the record's funcName


def write_line(method: str, path: str, status: int, milliseconds: float) -> None:
    """The access line, through the logger's handlers like any record (so its level, format
    and destination are the process's logging configuration), but built without
    `Logger.info`'s search of the call stack for the caller: that search costs about a
    quarter of the line, and the caller of an access line is always this function."""
    if log.isEnabledFor(logging.INFO):
        args = (method, path, status, milliseconds)
        fields = {"method": method, "path": path, "status": status, "ms": round(milliseconds, 1)}
        log.handle(
            log.makeRecord(
                log.name, logging.INFO, __file__, 0, LINE, args, None, WRITER, {"fields": fields}
            )
        )


class AccessLog:
    def __init__(self, app: ASGIApp, *, templates: Mapping[Any, str]) -> None:
        self.app = app
        self.templates = templates  # endpoint callable → route template, for metric labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = self.templates.get(scope.get("endpoint"), UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"  # bounded labels
            metrics.observe(method, route, status, elapsed)
            write_line(scope["method"], scope["path"], status, elapsed * 1000)

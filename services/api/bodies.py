"""Request bodies: JSON only, bounded in size, parsed strictly.

Why: a body is untrusted input of unknown size. The limit is enforced twice: up front from
Content-Length, and while streaming (a chunked body has no Content-Length, and a client may
lie), so the API never buffers more than `max_bytes`. Bodies are never logged.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from services.api.problems import Problem

JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read(request: Request, *, max_bytes: int) -> bytes:
    """The raw body, or 413/415/400 problems; an absent body reads as b""."""
    length_header = request.headers.get("content-length")
    if length_header is not None:
        try:
            length = int(length_header)
        except ValueError:
            raise Problem("bad-request", "Content-Length is not an integer") from None
        if length > max_bytes:
            raise _too_large(max_bytes)
    if length_header not in (None, "0"):
        _require_json(request)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise _too_large(max_bytes)
    if received:
        _require_json(request)  # a chunked (or HTTP/2) body announces no length
    return bytes(received)


def _require_json(request: Request) -> None:
    media_type = _media_type(request)
    if media_type not in JSON_TYPES:
        raise Problem(
            "unsupported-media-type",
            f"the body must be application/json, not {media_type or 'untyped'}",
        )


def parse(raw: bytes) -> Any:
    """The JSON document of a body; 400 when it is empty or not JSON (RFC 8259, UTF-8).

    orjson, not the stdlib: `json.loads` takes NaN and Infinity, lone surrogates and UTF-16,
    and raises ValueError on a 5,000-digit number and RecursionError on deep nesting (both
    were 500s). orjson refuses all of those with one JSONDecodeError, caps nesting at 1,024
    levels, and reads an integer past 64 bits as a float (validation then refuses it).
    """
    if not raw.strip():
        raise Problem("malformed-json", "this request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("malformed-json", f"the body is not valid JSON: {exc}") from None


def _too_large(max_bytes: int) -> Problem:
    # The rest of the body stays unread: `keepalive` tells the client the connection closes.
    return Problem("payload-too-large", f"the body exceeds {max_bytes} bytes", max_bytes=max_bytes)

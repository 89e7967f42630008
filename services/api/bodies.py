"""Request bodies: JSON only, bounded in size, parsed strictly.

Why: a body is untrusted input of unknown size. The limit is enforced twice: up front from
Content-Length, and while streaming (a chunked body has no Content-Length, and a client may
lie), so the API never buffers more than `max_bytes`. The whole body must arrive within
`timeout` seconds (408 and the connection closed), so a client trickling one byte at a time
cannot hold a connection and a request slot forever. Its nesting depth is measured by a flat
scan before anything recursive (parsing, hashing, validation) touches it: 422 past
`MAX_DEPTH`. Bodies are never logged.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import orjson
from starlette.requests import Request

from services.api.problems import Problem
from services.settings import Settings

JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})
MAX_DEPTH = 128
"""Deepest nesting of arrays and objects a body may have. The API's deepest is 3, but a
client's generic JSON (e.g. an annotation value built by a tool) may nest far deeper; what
matters is a bound well below the ~1,000 frames where recursive work over the body fails."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read(request: Request, *, max_bytes: int, timeout: float | None = None) -> bytes:
    """The raw body, or 413/415/400/408 problems; an absent body reads as b""."""
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
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                received += chunk
                if len(received) > max_bytes:
                    raise _too_large(max_bytes)
    except TimeoutError:
        # The rest of the body stays unread: `keepalive` tells the client the connection closes.
        raise Problem(
            "request-timeout",
            f"the body did not arrive within {timeout:g} seconds",
            timeout_seconds=timeout,
        ) from None
    if received:
        _require_json(request)  # a chunked (or HTTP/2) body announces no length
    return bytes(received)


async def read_limited(request: Request, settings: Settings) -> bytes:
    """`read` with the server's size and time limits."""
    return await read(
        request, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_seconds
    )


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
    if (found := depth(raw)) > MAX_DEPTH:
        raise Problem(
            "body-too-deep",
            f"the body nests arrays and objects {found} deep; at most {MAX_DEPTH} are accepted",
            max_depth=MAX_DEPTH,
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem("malformed-json", f"the body is not valid JSON: {exc}") from None


def depth(raw: bytes) -> int:
    """The deepest nesting of brackets outside strings, by a flat scan (no recursion): the
    strings are cut out, every byte but a bracket is dropped, and the running sum's peak is
    the depth. An unbalanced or malformed body gives some number; `orjson` refuses it next."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    return max(itertools.accumulate((_STEP[b] for b in brackets), initial=0))


def _too_large(max_bytes: int) -> Problem:
    # The rest of the body stays unread: `keepalive` tells the client the connection closes.
    return Problem("payload-too-large", f"the body exceeds {max_bytes} bytes", max_bytes=max_bytes)

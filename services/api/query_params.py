"""Query strings of list endpoints: `limit`, opaque `cursor`, and filters, checked strictly.

A cursor is the URL-safe base64 of a small JSON object naming the list it belongs to and the
keyset position after which the next page starts. It carries no authority: every query is
still scoped to the caller's project, so a forged cursor can only skip rows the caller may
see anyway. Unknown parameters are refused (400) so a typo never silently lists everything.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request

from services.api.problems import Problem

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
EMPTY = QueryParams("")


def _invalid(field: str, code: str, message: str) -> Problem:
    return Problem(
        "invalid-query",
        f"query parameter {field!r}: {message}",
        errors=[{"field": field, "code": code, "message": message}],
    )


def check_known(request: Request, allowed: Iterable[str] = ()) -> QueryParams:
    """The query parameters, refusing any not in `allowed` (the default: none at all)."""
    if not request.scope["query_string"]:
        return EMPTY  # the common case, without parsing anything
    params = request.query_params
    known = set(allowed)
    for name in params:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise _invalid(name, "unknown_field", f"unknown; allowed: {listed}")
    return params


def limit(params: QueryParams) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    # int() would also take " 5", "+5", "1_0" and non-ASCII digits: only plain digits here.
    if not (raw.isascii() and raw.isdigit()):
        raise _invalid("limit", "invalid_type", f"{raw!r} is not an integer")
    digits = raw.lstrip("0")  # and no int() of 5,000 digits, which raises ValueError
    value = int(digits) if 0 < len(digits) <= len(str(MAX_LIMIT)) else 0
    if not 1 <= value <= MAX_LIMIT:
        raise _invalid("limit", "out_of_range", f"must be between 1 and {MAX_LIMIT}")
    return value


def choice(params: QueryParams, name: str, choices: Iterable[str]) -> str | None:
    raw = params.get(name)
    allowed = tuple(choices)
    if raw is not None and raw not in allowed:
        raise _invalid(name, "invalid_choice", f"{raw!r} is not one of {', '.join(allowed)}")
    return raw


def text(params: QueryParams, name: str) -> str | None:
    raw = params.get(name)
    if raw is not None and not raw:
        raise _invalid(name, "invalid_type", "must not be empty")
    if raw is not None and "\x00" in raw:  # PostgreSQL text cannot hold NUL: a 500 otherwise
        raise _invalid(name, "invalid_type", "must not contain NUL")
    return raw


def identifier(params: QueryParams, name: str) -> uuid.UUID | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _invalid(name, "invalid_type", f"{raw!r} is not a UUID") from None


# -- cursors ---------------------------------------------------------------------------


def encode_cursor(kind: str, position: Mapping[str, Any]) -> str:
    raw = json.dumps({"k": kind, **position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(params: QueryParams, kind: str) -> dict[str, Any] | None:
    raw = params.get("cursor")
    if raw is None:
        return None
    try:
        # orjson: json.loads would raise RecursionError (a 500) on a deeply nested forgery.
        decoded = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    if not isinstance(decoded, dict) or decoded.get("k") != kind:
        raise Problem("invalid-cursor", "the cursor is not one this list returned")
    return decoded


def time_id_cursor(params: QueryParams, kind: str) -> tuple[dt.datetime, uuid.UUID] | None:
    """A (created_at, id) keyset position."""
    position = _decode_cursor(params, kind)
    if position is None:
        return None
    try:
        return dt.datetime.fromisoformat(position["t"]), uuid.UUID(position["i"])
    except (KeyError, TypeError, ValueError):
        raise Problem("invalid-cursor", "the cursor is not one this list returned") from None


def sequence_cursor(params: QueryParams, kind: str) -> int | None:
    """An integer keyset position (operation seq, event id)."""
    position = _decode_cursor(params, kind)
    if position is None:
        return None
    value = position.get("n")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Problem("invalid-cursor", "the cursor is not one this list returned")
    return value

"""JSON out of the API: orjson, with UUIDs and datetimes encoded natively.

Why orjson: serialising a page of 100 databases with the stdlib encoder (after turning every
id and timestamp into a string in Python) costs more than the query that fetched them.
orjson writes UUIDs and timezone-aware datetimes itself (RFC 3339, `Z` for UTC), so the
representations hand it raw values. `plain()` turns such a body into pure JSON values, for
bodies that are stored (Idempotency-Key answers in jsonb) and replayed byte for byte.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

OPTIONS = orjson.OPT_UTC_Z
SORTED = OPTIONS | orjson.OPT_SORT_KEYS


def dumps(content: Any, *, sort_keys: bool = False) -> bytes:
    return orjson.dumps(content, option=SORTED if sort_keys else OPTIONS)


def plain(content: Any) -> Any:
    """The same document with every UUID and datetime as the string the API sends."""
    return orjson.loads(dumps(content))


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class SortedJSONResponse(Response):
    """Keys sorted: a replay (read back from jsonb, which reorders keys) is byte-identical."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content, sort_keys=True)

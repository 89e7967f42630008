"""Small request/response helpers shared by the endpoint modules.

`Reply` is what a use case hands back across the thread boundary: plain data (status, JSON
body, headers), built in the worker thread and turned into a Starlette response in the event
loop. It is also what an Idempotency-Key stores and replays, so its body holds pure JSON
values only (see `encoding.plain`).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, cast

from starlette.requests import Request

from services.api import problems
from services.api.backends import Backends
from services.api.encoding import SortedJSONResponse

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def response(self) -> SortedJSONResponse:
        return SortedJSONResponse(self.body, self.status, headers=self.headers)


def backends_of(request: Request) -> Backends:
    return cast(Backends, request.app.state.backends)


def path_id(request: Request, name: str = "id") -> uuid.UUID:
    """A path UUID; anything else names no resource, so it is a 404, not a 400."""
    raw = request.path_params[name]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise problems.not_found(f"no resource with id {raw!r}") from None


def if_match(request: Request) -> str | None:
    return request.headers.get("if-match")


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise problems.Problem(
            "bad-request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
        )
    return key

"""Small request/response helpers shared by the endpoint modules.

`Reply` is what a use case hands back across the thread boundary: plain data (status, JSON
body, headers), built in the worker thread and turned into a Starlette response in the event
loop. It is also what an Idempotency-Key stores and replays, so its body holds pure JSON
values only (see `encoding.plain`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from typing import Any, cast

from starlette.datastructures import QueryParams
from starlette.requests import Request

from services.api import auth, problems, query_params
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
    # The document's pattern `^[!-~]+$`: visible ASCII only (no space, no latin-1 beyond it).
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise problems.Problem(
            "bad-request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters"
            " (! to ~)",
        )
    return key


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """What an endpoint checks before any I/O, in the order of its refusals: the bearer
    token (401 when missing), the path id (404 when malformed), the Idempotency-Key (400)
    and the query string (400 on a parameter not in `allowed`)."""

    backends: Backends
    token: str
    params: QueryParams
    key: str | None


def begin(request: Request, *, allowed: Iterable[str] = (), idempotent: bool = False) -> Caller:
    """The preamble of an endpoint without a path id."""
    backends = backends_of(request)
    token = auth.bearer_token(request)
    key = idempotency_key(request) if idempotent else None
    return Caller(backends, token, query_params.check_known(request, allowed), key)


def begin_on(
    request: Request, *, allowed: Iterable[str] = (), idempotent: bool = False
) -> tuple[Caller, uuid.UUID]:
    """The preamble of an endpoint on one resource: the call and the resource's id."""
    backends = backends_of(request)
    token = auth.bearer_token(request)
    resource_id = path_id(request)
    key = idempotency_key(request) if idempotent else None
    return Caller(backends, token, query_params.check_known(request, allowed), key), resource_id

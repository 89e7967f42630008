"""Per-key request rate limits: 429 with Retry-After, reads and writes counted apart.

Why here, before routing and authentication: a limit that needs the key looked up in
PostgreSQL first would let a flood cost a query per request. The bucket is named by a
digest of the bearer token (never the token): an unknown key is limited as well, which
also slows guessing. Requests without a key, and the unversioned endpoints (health,
metrics, docs), are not limited. When Redis cannot be reached the request goes through:
the queue's outage must not take the API's reads down with it.
"""

from __future__ import annotations

import hashlib
import logging
import math

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api import problems
from services.clients import rate_limits
from services.settings import Settings

log = logging.getLogger(__name__)
READS = frozenset({"GET", "HEAD"})


def buckets(settings: Settings) -> dict[str, rate_limits.Bucket]:
    configured = {
        "read": (settings.rate_reads_per_second, settings.rate_read_burst),
        "write": (settings.rate_writes_per_second, settings.rate_write_burst),
    }
    return {
        kind: rate_limits.Bucket(per_second, max(1, burst))
        for kind, (per_second, burst) in configured.items()
        if per_second > 0
    }


class RateLimit:
    """The ASGI wrapper; the limiter is the process's (`Backends.rate_limiter`), opened and
    closed with the app's lifespan."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.buckets = buckets(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.buckets or scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        limiter: rate_limits.RateLimiter = scope["app"].state.backends.rate_limiter
        kind = "read" if scope["method"] in READS else "write"
        bucket = self.buckets.get(kind)
        token = _bearer(scope)
        if bucket is None or token is None:
            await self.app(scope, receive, send)
            return
        subject = hashlib.blake2b(token, digest_size=16).hexdigest()
        try:
            wait = await limiter.take(subject, kind, bucket)
        except rate_limits.UNAVAILABLE as exc:
            log.warning("rate limits unavailable (Redis): letting requests through: %s", exc)
            wait = 0.0
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        problem = problems.Problem(
            "rate-limited",
            f"this key made more than {bucket.per_second:g} {kind}s per second "
            f"(burst {bucket.burst}); retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
            limit_per_second=bucket.per_second,
            burst=bucket.burst,
            kind=kind,
        )
        response = problems.respond(problem, Request(scope))
        await response(scope, receive, send)


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None

"""Who is calling: `Authorization: Bearer <key>` → a Principal, and what its role allows.

Roles are ordered: viewer (read) < operator (mutate, read credentials) < admin (everything).
Successful authentications are cached in-process for `ttl` seconds (default 5) so a busy
client does not cost a PostgreSQL round trip per request. A revocation is announced over
Redis and drops the key from every process's cache at once (`clients.revocations`); the
`ttl` is only the bound when that announcement cannot arrive (Redis down), and an entry
never outlives its key's expiry. Failures are never cached,
so a new key works at once. The cache is keyed by a digest of the key: the key itself is
never stored, logged or put into an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Callable

from starlette.requests import Request

from services.api import problems
from services.clients.postgres import Connection
from services.domain.records import Principal
from services.store import keys

RANK = {role: rank for rank, role in enumerate(keys.ROLES)}
VIEWER, OPERATOR, ADMIN = keys.ROLES
DEFAULT_TTL_SECONDS = 5.0
MAX_CACHED_KEYS = 10_000


def bearer_token(request: Request) -> str:
    """The key of the Authorization header; 401 when it is missing or not a Bearer key."""
    header = request.headers.get("authorization")
    if not header:
        raise problems.unauthorized("missing Authorization header (expected: Bearer <key>)")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise problems.unauthorized("the Authorization header must read: Bearer <key>")
    return token


def require(principal: Principal, role: str) -> None:
    """403 unless the principal's role is at least `role`."""
    if RANK[principal.role] < RANK[role]:
        raise problems.Problem(
            "forbidden", f"this request needs role {role} or higher; the key has {principal.role}"
        )


class KeyCache:
    """Recent successful authentications of this process, by key digest, for `ttl` seconds."""

    def __init__(
        self, ttl: float = DEFAULT_TTL_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._revoked: set[uuid.UUID] = set()  # never cached again by this process
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.blake2b(token.encode(), digest_size=16).digest()

    def get(self, token: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(self._digest(token))
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        lifetime = self.ttl
        if principal.expires_at is not None:
            left = (principal.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
            lifetime = min(lifetime, left)
        with self._lock:
            if principal.key_id in self._revoked or lifetime <= 0:
                return  # read from PostgreSQL just before its revocation committed
            if len(self._entries) >= MAX_CACHED_KEYS:
                self._entries.clear()  # crude but bounded; a refill costs one query per key
            self._entries[self._digest(token)] = (principal, self._clock() + lifetime)

    def revoke(self, key_id: uuid.UUID) -> int:
        """Forget every entry of `key_id`, now and later; how many there were."""
        with self._lock:
            if len(self._revoked) >= MAX_CACHED_KEYS:
                self._revoked.clear()  # bounded; PostgreSQL refuses the key anyway
            self._revoked.add(key_id)
            doomed = [d for d, (p, _) in self._entries.items() if p.key_id == key_id]
            for digest in doomed:
                del self._entries[digest]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def authenticate(conn: Connection, token: str, cache: KeyCache) -> Principal:
    """The principal of a live key (recording its use), else 401. Blocking: call in a thread."""
    principal = cache.get(token)
    if principal is not None:
        return principal
    principal = keys.authenticate(conn, token)
    if principal is None:
        raise problems.unauthorized("the API key is unknown or revoked")
    keys.touch(conn, principal.key_id)
    cache.put(token, principal)
    return principal

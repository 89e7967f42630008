"""Key revocations broadcast over Redis pub/sub, acknowledged by every API process.

Why: each API process caches successful authentications (`api.auth.KeyCache`), so a
revoked key used to keep working until its entry expired (5 s). Now the revoking process
publishes the key id; every API process of every pod listens (`Listener`, a named thread),
drops the key from its cache, and acknowledges on a per-revocation Redis list, which the
revoking request waits on (`wait_for_acks`). The cache's own expiry stays as the bound
when Redis cannot carry the message: a listener that (re)subscribes clears its whole cache,
since it may have missed revocations while away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
import redis.exceptions

log = logging.getLogger(__name__)

CHANNEL = "dbaas:keys:revoked:"
"""+ the Redis db number: pub/sub ignores dbs, and deployments sharing a server must not
hear (nor wait on) each other."""
ACKS_PREFIX = "dbaas:keys:revoked:acks:"
ACKS_TTL_SECONDS = 60
RECONNECT_SECONDS = 1.0
UNAVAILABLE: tuple[type[Exception], ...] = (redis.exceptions.RedisError, OSError)


def channel(client: redis.Redis) -> str:
    return CHANNEL + str(client.connection_pool.connection_kwargs.get("db", 0))


def publish(client: redis.Redis, key_id: str) -> int:
    """Announce a revocation; the number of listeners it reached."""
    return int(client.publish(channel(client), key_id))


def wait_for_acks(client: redis.Redis, key_id: str, *, expected: int, timeout: float) -> int:
    """Block until `expected` listeners acknowledged `key_id` or `timeout` passes; how many
    did. Each acknowledgement is popped, so the list is gone once everyone answered."""
    acknowledged = 0
    while acknowledged < expected:
        popped = client.blpop([ACKS_PREFIX + key_id], timeout=timeout)
        if popped is None:
            break
        acknowledged += 1
    return acknowledged


class Listener:
    """Calls `on_revoked(key_id)` for every revocation announced, then acknowledges it;
    `on_gap()` whenever it (re)subscribes (revocations may have been missed meanwhile)."""

    def __init__(
        self,
        url: str,
        *,
        on_revoked: Callable[[str], None],
        on_gap: Callable[[], None],
        name: str = "api-key-revocations",
    ) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
        self._on_revoked = on_revoked
        self._on_gap = on_gap
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except UNAVAILABLE as exc:
                self._subscribed.clear()
                log.warning("key revocations: Redis unavailable, the cache expiry bounds: %s", exc)
                self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(channel(self._client))
            self._on_gap()
            self._subscribed.set()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is None or message.get("type") != "message":
                    continue
                key_id = message["data"].decode()
                self._on_revoked(key_id)
                with self._client.pipeline() as pipe:
                    pipe.rpush(ACKS_PREFIX + key_id, 1)
                    pipe.expire(ACKS_PREFIX + key_id, ACKS_TTL_SECONDS)
                    pipe.execute()

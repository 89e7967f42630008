"""Token buckets in Redis, shared by every API process of every pod.

One bucket per (key digest, kind); a Lua script refills it from the time elapsed (Redis's
own clock, so API hosts' clocks never disagree) and takes one token, atomically. A bucket
nobody touched for a full refill expires. The caller never waits here: it gets "allowed" or
the seconds until a token is back (`Retry-After`).
"""

from __future__ import annotations

import dataclasses

import redis.asyncio
import redis.exceptions

KEY_PREFIX = "dbaas:rate:"
UNAVAILABLE: tuple[type[Exception], ...] = (redis.exceptions.RedisError, OSError)
"""What a check that could not reach Redis raises; the caller lets the request through."""

_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


@dataclasses.dataclass(frozen=True)
class Bucket:
    per_second: float
    burst: int


class RateLimiter:
    def __init__(self, url: str) -> None:
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._take = self._redis.register_script(_TAKE)

    async def take(self, subject: str, kind: str, bucket: Bucket) -> float:
        """0 when a token was taken, else the seconds until one is back."""
        wait = await self._take(
            keys=[f"{KEY_PREFIX}{kind}:{subject}"], args=[bucket.per_second, bucket.burst]
        )
        return float(wait)

    async def aclose(self) -> None:
        await self._redis.aclose()

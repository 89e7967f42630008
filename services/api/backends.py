"""The clients one API worker process holds, and the one way requests use them.

Why: every request that touches PostgreSQL does so in a worker thread (the store and control
layers are synchronous), and a thread hop costs more than the query, so `call` does the
authentication and the work in ONE hop, on ONE pooled connection, through an executor of
its own with one named thread per pooled connection: such work never queues at the pool,
and a plain executor hop costs less than Starlette's (anyio's capacity limiter and cancel
scope per call, ~15 us of a GET's ~200 us of Python). The pool's connections run in
autocommit: a read is a single round trip, and use cases open their own transaction
(`conn.transaction()`). Never hold a pooled connection while waiting on Kubernetes or Redis.

The two hottest reads (one database, one page of databases) skip the hop when the key is
already in the auth cache: `read` runs them on the event loop, on a small asyncio pool of
their own (`ASYNC_POOL_MAX_SIZE` more connections per API worker process), with the same
connection settings and checkout wait as the thread pool. An uncached key still takes the
one hop of `call`, which authenticates it (a blocking, write-side use of the key store).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from services.api import auth
from services.api.cluster_access import CatalogCache, ClusterAccess
from services.clients import postgres, queue, rate_limits, revocations
from services.clients.postgres import AsyncConnection, Connection
from services.control import quotas
from services.domain.records import Principal
from services.settings import Settings

log = logging.getLogger(__name__)

POOL_MAX_SIZE = 16
ASYNC_POOL_MAX_SIZE = 16
"""As many as the thread pool. The event loop's reads take one round trip each, but a loop
with as many queries in flight as requests handles their answers in fewer turns: with 16
concurrent GETs on one process, 8 connections cost ~10% more CPU per request (half the
requests queue in the pool, and the loop wakes up for fewer answers at a time). The pool
grows only as concurrency demands (from 1) and shrinks back when idle."""
CHECKOUT_TIMEOUT_SECONDS = 1.0
"""How long a request waits for a pooled connection before its 503.

A request holds a connection for one query or one short transaction (never across a
Kubernetes or Redis call), so under load a connection frees up within milliseconds, and a
pool that has none opens one in a few. A request waits longer only when PostgreSQL is
down: then each request would otherwise sit out the pool's default (5 s) for the same 503.
"""
REVOCATION_WAIT_SECONDS = 1.0
"""How long a revocation waits for every API process to confirm it forgot the key."""
P = ParamSpec("P")
T = TypeVar("T")


class Backends:
    def __init__(
        self,
        settings: Settings,
        *,
        auth_ttl: float = auth.DEFAULT_TTL_SECONDS,
        catalog_ttl: float | None = None,
    ) -> None:
        self.settings = settings
        self.pool = postgres.create_pool(
            settings.database_url,
            name="api",
            max_size=POOL_MAX_SIZE,
            check_on_checkout=False,
            fast_json=True,
        )
        self.async_pool = postgres.create_async_pool(
            settings.database_url,
            name="api-async",
            max_size=ASYNC_POOL_MAX_SIZE,
            autocommit=True,
            check_on_checkout=False,
            fast_json=True,
        )
        self.redis = queue.connect(settings.redis_url)
        self.queue = queue.operation_queue(self.redis, settings.queue_name)
        self.cluster = ClusterAccess(settings.kubeconfig)
        self.catalog = (
            CatalogCache(self.cluster)
            if catalog_ttl is None
            else CatalogCache(self.cluster, ttl=catalog_ttl)
        )
        self.keys = auth.KeyCache(auth_ttl)
        self.quota = quotas.defaults_from(settings)
        self.rate_limiter = rate_limits.RateLimiter(settings.redis_url)
        self.revocations = revocations.Listener(
            settings.redis_url, on_revoked=self._forget_key, on_gap=self.keys.clear
        )
        self.store_threads = ThreadPoolExecutor(POOL_MAX_SIZE, thread_name_prefix="api-store")

    async def open(self) -> None:
        """Open what needs the running event loop (the asyncio pool), start listening for
        key revocations."""
        await self.async_pool.open(wait=False)
        self.revocations.start()

    async def aclose(self) -> None:
        """Close the asyncio pool, then everything else (`close`)."""
        await self.async_pool.close()
        await self.rate_limiter.aclose()
        self.close()

    def close(self) -> None:
        self.revocations.stop()
        self.store_threads.shutdown()  # the work in flight ends first: it holds connections
        self.pool.close()
        self.redis.close()
        self.cluster.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with self.pool.connection(timeout=CHECKOUT_TIMEOUT_SECONDS) as conn:
            if not conn.autocommit:
                conn.autocommit = True
            yield conn

    async def call(
        self,
        token: str,
        role: str,
        work: Callable[Concatenate[Connection, Principal, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Authenticate (401/403) and run `work(conn, principal, ...)` in one worker thread."""
        cached = self.keys.get(token)
        if cached is not None:
            auth.require(cached, role)  # refuse before spending a connection

        def run() -> T:
            with self.connection() as conn:
                principal = cached or auth.authenticate(conn, token, self.keys)
                auth.require(principal, role)
                return work(conn, principal, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self.store_threads, run)

    async def read(
        self,
        token: str,
        role: str,
        work: Callable[Concatenate[AsyncConnection, Principal, P], Awaitable[T]],
        fallback: Callable[Concatenate[Connection, Principal, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`work(conn, principal, ...)` on the event loop when the key is cached, else
        `fallback` (the same read, synchronous) through `call`, which authenticates it."""
        cached = self.keys.get(token)
        if cached is None:
            return await self.call(token, role, fallback, *args, **kwargs)
        auth.require(cached, role)
        # getconn/putconn, not `pool.connection()`: that context also enters the connection's
        # own, whose commit on exit takes the connection's lock and runs a generator, for
        # nothing in autocommit. putconn still rolls back or replaces a connection left in
        # a transaction or a broken state, as the context would.
        conn = await self.async_pool.getconn(timeout=CHECKOUT_TIMEOUT_SECONDS)
        try:
            return await work(conn, cached, *args, **kwargs)
        finally:
            await self.async_pool.putconn(conn)

    async def principal(self, token: str, role: str) -> Principal:
        """Authenticate (401/403) without doing anything else."""
        cached = self.keys.get(token)
        if cached is not None:
            auth.require(cached, role)
            return cached
        return await self.call(token, role, _principal)

    def _forget_key(self, key_id: str) -> None:
        try:
            self.keys.revoke(uuid.UUID(key_id))
        except ValueError:
            log.warning("key revocations: ignored a malformed key id %r", key_id)

    def announce_revocation(self, key_id: uuid.UUID) -> tuple[int, int]:
        """Tell every API process (this one too) to forget the key, and wait for them:
        (processes reached, processes that confirmed). Blocking; (0, 0) when Redis is down:
        the caches' expiry then bounds the key's life."""
        self.keys.revoke(key_id)
        try:
            reached = revocations.publish(self.redis, str(key_id))
            confirmed = revocations.wait_for_acks(
                self.redis, str(key_id), expected=reached, timeout=REVOCATION_WAIT_SECONDS
            )
        except revocations.UNAVAILABLE as exc:
            log.warning("key %s: revocation not announced (Redis): %s", key_id, exc)
            return 0, 0
        return reached, confirmed

    def enqueue(self, operation_ids: list[uuid.UUID]) -> None:
        """Enqueue after commit; a failure only delays the work (the sweeper re-dispatches)."""
        if not operation_ids:
            return
        try:
            queue.enqueue_operations(self.queue, operation_ids)
        except Exception as exc:  # Redis down or flushed: never fail the accepted request
            log.warning(
                "operations %s: enqueue failed, left to the sweeper: %s",
                ", ".join(str(op_id) for op_id in operation_ids),
                exc,
            )


def _principal(conn: Connection, principal: Principal) -> Principal:
    return principal

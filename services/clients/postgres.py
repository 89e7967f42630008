"""PostgreSQL connections: the one place that knows how dbaas opens them.

Connections use `dict_row` so stores can build their records by column name. Pools are
opened lazily by the caller's process (the API opens one per Hypercorn worker; the RQ
worker and the reconcilers use a small pool each).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import orjson
import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

Connection = psycopg.Connection[DictRow]
AsyncConnection = psycopg.AsyncConnection[DictRow]
Pool = ConnectionPool[Connection]
UNAVAILABLE: tuple[type[Exception], ...] = (psycopg.OperationalError,)
"""What a call raises when PostgreSQL is down or unreachable (PoolTimeout and PoolClosed
subclass OperationalError). Never broader: a programming error must not pass for an outage."""
DEFAULT_CHECKOUT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")
log = logging.getLogger(__name__)

CONFLICTS: tuple[type[Exception], ...] = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)
"""What PostgreSQL answers a transaction it rolled back so that another can go on: the
transaction did nothing and may simply run again (SQLSTATE 40P01, 40001)."""
CONFLICT_TRIES = 5


def retry_conflicts(
    work: Callable[[], T],
    *,
    tries: int = CONFLICT_TRIES,
    base: float = 0.01,
    sleep: Callable[[float], None] = time.sleep,
    random_source: Callable[[], float] = random.random,
) -> T:
    """`work()`, run again (after a short jittered pause) when PostgreSQL rolled it back as a
    deadlock victim or a serialization failure, at most `tries` times in all; the last
    failure propagates. `work` must be a whole transaction (or an autocommit statement):
    it is repeated from its start."""
    for try_number in range(1, tries + 1):
        try:
            return work()
        except CONFLICTS as exc:
            if try_number == tries:
                raise
            delay = base * 2 ** (try_number - 1) * (0.5 + random_source())
            log.warning("transaction rolled back (%s); running it again", type(exc).__name__)
            sleep(delay)
    raise AssertionError("the last try raises what it meets")


def connect(url: str, *, autocommit: bool = False) -> Connection:
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)


def reachable(url: str) -> bool:
    """Whether the server of `url` accepts a connection to its `postgres` database."""
    maintenance = psycopg.conninfo.make_conninfo(url, dbname="postgres", connect_timeout="2")
    try:
        psycopg.connect(maintenance).close()
    except psycopg.OperationalError:
        return False
    return True


def _load_json_with_orjson(conn: Connection | AsyncConnection) -> None:
    set_json_loads(orjson.loads, conn)


async def _load_json_with_orjson_async(conn: AsyncConnection) -> None:
    _load_json_with_orjson(conn)


def application_name(pool: str) -> str:
    """What pg_stat_activity shows for a pool's connections: which program holds them."""
    return f"dbaas-{pool}"


def create_pool(
    url: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 8,
    open_now: bool = True,
    check_on_checkout: bool = True,
    fast_json: bool = False,
) -> ConnectionPool[Connection]:
    """A pool whose connections return dict rows.

    `check_on_checkout` pings each connection before handing it out (one round trip), so a
    PostgreSQL restart costs no failed call; without it a dead connection fails one call
    and is then discarded (the API's choice: it answers that call 503 and saves the ping
    on every request).

    `fast_json` parses json/jsonb columns with orjson instead of the stdlib (several times
    faster: the API's pages carry conditions and observed specs on every row). The values
    are the same, except numbers beyond 64 bits, which turn into floats (or fail when beyond
    a double); the API could not write such integers out anyway.

    A checkout waits `DEFAULT_CHECKOUT_TIMEOUT_SECONDS` unless the caller passes its own.
    """
    pool: ConnectionPool[Connection] = ConnectionPool(
        url,
        name=name,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "application_name": application_name(name)},
        configure=_load_json_with_orjson if fast_json else None,
        check=ConnectionPool.check_connection if check_on_checkout else None,
        open=False,
        timeout=DEFAULT_CHECKOUT_TIMEOUT_SECONDS,
    )
    if open_now:
        pool.open(wait=False)
    return pool


def create_async_pool(
    url: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 8,
    autocommit: bool = False,
    check_on_checkout: bool = True,
    fast_json: bool = False,
) -> AsyncConnectionPool[AsyncConnection]:
    """The asyncio twin of `create_pool` (same rows, checks, json loader and checkout wait),
    for a caller that reads without a thread hop. Not opened: the caller awaits
    `pool.open(wait=False)` inside its event loop and `pool.close()` at its end.
    `autocommit` is set on each new connection, so a checkout costs no round trip.
    """
    return AsyncConnectionPool(
        url,
        name=name,
        min_size=min_size,
        max_size=max_size,
        kwargs={
            "row_factory": dict_row,
            "autocommit": autocommit,
            "application_name": application_name(name),
        },
        configure=_load_json_with_orjson_async if fast_json else None,
        check=AsyncConnectionPool.check_connection if check_on_checkout else None,
        open=False,
        timeout=DEFAULT_CHECKOUT_TIMEOUT_SECONDS,
    )

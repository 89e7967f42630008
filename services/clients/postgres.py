"""PostgreSQL connections: the one place that knows how dbaas opens them.

Connections use `dict_row` so stores can build their records by column name. Pools are
opened lazily by the caller's process (the API opens one per Hypercorn worker; the RQ
worker and the reconcilers use a small pool each).
"""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

Connection = psycopg.Connection[DictRow]


def connect(url: str, *, autocommit: bool = False) -> Connection:
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)


def create_pool(
    url: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 8,
    open_now: bool = True,
    check_on_checkout: bool = True,
) -> ConnectionPool[Connection]:
    """A pool whose connections return dict rows.

    `check_on_checkout` pings each connection before handing it out (one round trip), so a
    PostgreSQL restart costs no failed call; without it a dead connection fails one call
    and is then discarded (the API's choice: it answers that call 503 and saves the ping
    on every request).
    """
    pool: ConnectionPool[Connection] = ConnectionPool(
        url,
        name=name,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        check=ConnectionPool.check_connection if check_on_checkout else None,
        open=False,
        timeout=5.0,
    )
    if open_now:
        pool.open(wait=False)
    return pool

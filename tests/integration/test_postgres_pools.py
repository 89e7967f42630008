"""The pools' connections say which program holds them (pg_stat_activity.application_name)."""

from __future__ import annotations

import asyncio

from services.clients import postgres


def test_a_pool_connection_names_its_program(database_url: str) -> None:
    pool = postgres.create_pool(database_url, name="worker-w1", max_size=1)
    try:
        with pool.connection() as conn:
            row = conn.execute("SHOW application_name").fetchone()
    finally:
        pool.close()
    assert row == {"application_name": "dbaas-worker-w1"}


def test_an_async_pool_connection_names_its_program(database_url: str) -> None:
    async def name_seen() -> object:
        pool = postgres.create_async_pool(database_url, name="api-async", max_size=1)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute("SHOW application_name")
                return await cursor.fetchone()
        finally:
            await pool.close()

    assert asyncio.run(name_seen()) == {"application_name": "dbaas-api-async"}

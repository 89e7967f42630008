"""Shared fixtures: a migrated PostgreSQL database and a flushed Redis db per test.

Real servers only (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379 unless the
DBAAS_TEST_* variables say otherwise). Each test gets its own database, cloned from a
migrated template made once per session, and drops it afterwards; we never touch
databases we did not create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from psycopg import sql

from services.store import migrating

pytest_plugins = ["tests.fixtures_sim"]

ADMIN_URL = os.environ.get("DBAAS_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("DBAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_TEST_DB = int(os.environ.get("DBAAS_TEST_REDIS_DB", "13"))


def _database_url(name: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)


def _create_database(name: str, *, template: str | None = None) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)


def _drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    name = f"dbaas_tpl_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    try:
        migrating.apply(_database_url(name))
        yield name
    finally:
        _drop_database(name)


@pytest.fixture
def database_url(migrated_template: str) -> Iterator[str]:
    """URL of a fresh, migrated database owned by this test."""
    name = f"dbaas_t_{uuid.uuid4().hex[:12]}"
    _create_database(name, template=migrated_template)
    try:
        yield _database_url(name)
    finally:
        _drop_database(name)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """URL of a fresh database with no migrations applied."""
    name = f"dbaas_e_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    try:
        yield _database_url(name)
    finally:
        _drop_database(name)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of this test's Redis db, flushed before and after."""
    url = f"{REDIS_BASE}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()

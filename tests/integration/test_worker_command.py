"""`dbaas worker` as a process: it runs jobs, waits for its dependencies instead of exiting,
and shuts down warm on SIGTERM (the current job finishes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Worker

from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import World, make_world

QUEUE = "test-operations"


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def start_worker(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "worker.log"
    environment = os.environ | {"DBAAS_QUEUE_NAME": QUEUE, "DBAAS_HOME": str(tmp_path)} | env
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker"],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, log


def stop(process: subprocess.Popen[bytes], log: Path) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"worker ignored SIGTERM:\n{log.read_text()}")


def wait_for_log(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    SimCluster.wait_for(lambda: text in log.read_text() or process.poll() is not None, timeout=30)
    assert text in log.read_text(), log.read_text()


def test_the_worker_runs_queued_operations_and_stops_on_sigterm(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    _, create = world.create("postgres", "orders")
    process, log = start_worker(
        tmp_path,
        DBAAS_DATABASE_URL=database_url,
        DBAAS_REDIS_URL=redis_url,
        DBAAS_KUBECONFIG=str(sim.kubeconfig),
        DBAAS_WORKER_NAME="worker-under-test",
    )
    try:
        SimCluster.wait_for(lambda: world.op(create.id).state == "waiting", timeout=30)
        names = [worker.name for worker in Worker.all(connection=world.redis)]
        assert names == ["worker-under-test"]
    finally:
        code = stop(process, log)
    assert code == 0, log.read_text()
    text = log.read_text()
    assert f"operation {create.id}: waiting (Postgres orders, created)" in text
    assert Worker.all(connection=world.redis) == []


def test_the_worker_waits_for_redis_instead_of_exiting(tmp_path: Path, database_url: str) -> None:
    process, log = start_worker(
        tmp_path, DBAAS_DATABASE_URL=database_url, DBAAS_REDIS_URL="redis://127.0.0.1:1/0"
    )
    wait_for_log(log, "Redis unavailable", process)
    assert process.poll() is None
    assert stop(process, log) == 0


def test_the_worker_waits_for_postgresql_instead_of_exiting(tmp_path: Path, redis_url: str) -> None:
    process, log = start_worker(
        tmp_path,
        DBAAS_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        DBAAS_REDIS_URL=redis_url,
    )
    wait_for_log(log, "PostgreSQL unavailable", process)
    assert process.poll() is None
    assert stop(process, log) == 0


def test_sigterm_during_a_job_lets_the_job_finish(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    sim.set_latency(2.0, verbs=["create"])
    _, create = world.create("redis", "cache")
    process, log = start_worker(
        tmp_path,
        DBAAS_DATABASE_URL=database_url,
        DBAAS_REDIS_URL=redis_url,
        DBAAS_KUBECONFIG=str(sim.kubeconfig),
    )
    try:
        # Claimed: the job is inside its (slow) Kubernetes calls.
        SimCluster.wait_for(lambda: world.op(create.id).state == "running", timeout=30)
    finally:
        code = stop(process, log)
    assert code == 0, log.read_text()
    assert world.op(create.id).state == "waiting", log.read_text()

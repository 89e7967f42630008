"""Workers' heartbeats: the operations of a worker that stopped beating are handed over at
once instead of after their lease; a live worker's, or one that never beat, are not. A real
`dbaas worker` beats (file and row) while it runs and leaves no row when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clients import postgres
from services.store import heartbeats, operations
from services.supervision import heartbeats as beat_files
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import World, make_world


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


def _claimed_by(world: World, owner: str, name: str) -> operations.OperationRecord:
    _, create = world.create("redis", name, enqueue=False)
    with world.conn() as conn:
        claimed = operations.claim(conn, create.id, owner=owner, lease_seconds=60)
    assert claimed is not None and claimed.state == "running"
    return claimed


def _beat(world: World, name: str, *, seconds_ago: float) -> None:
    with world.conn() as conn:
        heartbeats.beat(conn, name)
        conn.execute(
            "UPDATE worker_heartbeats SET beat_at = now() - make_interval(secs => %s)"
            " WHERE name = %s",
            (seconds_ago, name),
        )


def test_the_operations_of_a_silent_worker_are_handed_over_before_their_lease_ends(
    world: World,
) -> None:
    # owners as the worker writes them: <worker name>/<token of the claim>
    dead = _claimed_by(world, "dead-worker/0a1b2c3d", "orders")
    alive = _claimed_by(world, "live-worker/4e5f6a7b", "billing")
    unknown = _claimed_by(world, "in-process-worker/8c9d0e1f", "cache")  # never beat
    _beat(world, "dead-worker", seconds_ago=30)
    _beat(world, "live-worker", seconds_ago=1)
    with world.conn() as conn:
        handed = heartbeats.expire_leases_of_silent_workers(conn, silent_for=10)
        due = operations.dispatchable(conn, pending_older_than=3600)
    assert handed == [dead.id]
    assert due == [dead.id]
    with world.conn() as conn:
        resumed = operations.claim(conn, dead.id, owner="other-worker", lease_seconds=60)
        assert operations.claim(conn, alive.id, owner="other-worker", lease_seconds=60) is None
        assert operations.claim(conn, unknown.id, owner="other-worker", lease_seconds=60) is None
    assert resumed is not None
    assert resumed.attempt == dead.attempt + 1
    assert world.op(alive.id).lease_owner == "live-worker/4e5f6a7b"


def test_the_rows_of_workers_silent_for_long_are_pruned(world: World) -> None:
    # A killed worker leaves its row; its name (<hostname>-<pid>) never beats again.
    _beat(world, "killed-long-ago", seconds_ago=7200)
    _beat(world, "killed-just-now", seconds_ago=30)
    with world.conn() as conn:
        assert heartbeats.prune_silent(conn, silent_for=3600) == 1
        left = [row["name"] for row in conn.execute("SELECT name FROM worker_heartbeats")]
    assert "killed-long-ago" not in left
    assert "killed-just-now" in left


def test_a_worker_process_beats_while_it_runs_and_leaves_no_row_when_stopped(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    env = os.environ | {
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_KUBECONFIG": str(sim.kubeconfig),
        "DBAAS_QUEUE_NAME": "test-operations",
        "DBAAS_HOME": str(tmp_path),
        "DBAAS_WORKER_NAME": "beating-worker",
        "DBAAS_PROGRAM": "worker",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker"], env=env, stdout=sink, stderr=sink
        )

    def rows() -> list[str]:
        with postgres.connect(database_url) as conn:
            return [r["name"] for r in conn.execute("SELECT name FROM worker_heartbeats")]

    try:
        SimCluster.wait_for(
            lambda: rows() == ["beating-worker"] or process.poll() is not None, timeout=60
        )
        assert rows() == ["beating-worker"], log.read_text()
        beat = beat_files.read(tmp_path, "worker")
        assert beat is not None and beat.pid == process.pid
        assert "kube_requests" in beat.counters
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert rows() == []

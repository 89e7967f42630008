"""The worker's stop is bounded: 50 SIGTERMs to an idle worker and 50 to a busy one, each a
real `dbaas worker` process signalled as supervisord signals it, each exiting 0 well
within the program's stopwaitsecs (the contract: after it supervisord sends SIGKILL).

RQ's own stop joins its pubsub thread without a bound, and that thread could sit in a 60 s
wait (services/commands/worker.py, PUBSUB_POLL_SECONDS): 2 of 20 idle stops hung until the
SIGKILL. A busy stop must also leave the job finished (warm shutdown): the operation the
worker was carrying out reaches `waiting`, with exactly one object in the cluster.

`DBAAS_STOP_ROUNDS` changes the number of rounds (50 by default). The durations are
printed (`-s`); the only bound asserted is stopwaitsecs.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Worker

from tests.container import supervisord_conf
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import World, make_world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

QUEUE = "test-operations"  # the queue make_world enqueues into
ROUNDS = int(os.environ.get("DBAAS_STOP_ROUNDS", "50"))
STOPWAITSECS = int(
    supervisord_conf.process_sections(supervisord_conf.load())["worker"]["stopwaitsecs"]
)


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


class WorkerProcess:
    def __init__(self, tmp_path: Path, env: dict[str, str], name: str) -> None:
        self.log = tmp_path / f"{name}.log"
        self.name = name
        environment = os.environ | env | {"DBAAS_WORKER_NAME": name}
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker"],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as supervisord sends it; (exit status, seconds to exit)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOPWAITSECS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.name}: not stopped within stopwaitsecs:\n{self.text()}")
        return code, time.monotonic() - started


def _environment(database_url: str, redis_url: str, sim: SimCluster) -> dict[str, str]:
    return {
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_KUBECONFIG": str(sim.kubeconfig),
        "DBAAS_QUEUE_NAME": QUEUE,
    }


def _report(kind: str, durations: list[float]) -> None:
    print(
        f"\n{kind} worker stops: {len(durations)}, seconds min {min(durations):.2f} "
        f"median {statistics.median(durations):.2f} max {max(durations):.2f} "
        f"(stopwaitsecs {STOPWAITSECS})"
    )


def test_an_idle_worker_stops_gracefully_every_time(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    env = _environment(database_url, redis_url, sim) | {"DBAAS_HOME": str(tmp_path)}
    durations = []
    for round_ in range(ROUNDS):
        worker = WorkerProcess(tmp_path, env, f"idle-{round_}")
        # Idle: registered, subscribed to its command channel, waiting on the queue.
        SimCluster.wait_for(
            lambda worker=worker: (
                "Listening on" in worker.text() or worker.process.poll() is not None
            ),
            timeout=60,
        )
        assert worker.process.poll() is None, worker.text()
        code, seconds = worker.stop()
        assert code == 0, worker.text()
        assert "stopped" in worker.text().splitlines()[-1], worker.text()
        assert [w.name for w in Worker.all(connection=world.redis)] == [], worker.text()
        durations.append(seconds)
    _report("idle", durations)


def test_a_busy_worker_finishes_its_step_and_stops_gracefully_every_time(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    env = _environment(database_url, redis_url, sim) | {"DBAAS_HOME": str(tmp_path)}
    # The create step's Kubernetes call takes 1 s: the SIGTERM lands inside the job.
    sim.set_latency(1.0, verbs=["create"])
    durations = []
    for round_ in range(ROUNDS):
        worker = WorkerProcess(tmp_path, env, f"busy-{round_}")
        _, create = world.create("redis", f"cache-{round_}")
        SimCluster.wait_for(
            lambda create=create, worker=worker: (
                world.op(create.id).state != "pending" or worker.process.poll() is not None
            ),
            timeout=60,
        )
        assert world.op(create.id).state == "running", worker.text()
        code, seconds = worker.stop()
        assert code == 0, worker.text()
        # warm shutdown: the step finished and handed the operation to KubeDB
        assert world.op(create.id).state == "waiting", worker.text()
        assert f"operation {create.id}: waiting" in worker.text()
        assert [w.name for w in Worker.all(connection=world.redis)] == [], worker.text()
        durations.append(seconds)
    _report("busy", durations)

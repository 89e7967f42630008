"""The worker's stop is bounded: 50 SIGTERMs to an idle worker and 50 to a busy one, each a
real `dbaas worker` process signalled as supervisord signals it, each exiting 0 well
within the program's stopwaitsecs (the contract: after it supervisord sends SIGKILL).

RQ's own stop joins its pubsub thread without a bound, and that thread could sit in a 60 s
wait (services/commands/worker.py, PUBSUB_POLL_SECONDS): 2 of 20 idle stops hung until the
SIGKILL. A busy stop must also leave the job finished (warm shutdown): the operation the
worker was carrying out reaches `waiting`, with exactly one object in the cluster.

`DBAAS_STOP_ROUNDS` changes the number of rounds (50 by default), `DBAAS_STOP_BATCH` how
many workers start and stop together (5). The durations are printed (`-s`); the only bound
asserted is stopwaitsecs.
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

from services.clients import queue as queue_client
from tests.container import supervisord_conf
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import World, make_world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

QUEUE = "test-operations"  # the queue make_world enqueues into
ROUNDS = int(os.environ.get("DBAAS_STOP_ROUNDS", "50"))
# Workers started and stopped together: a round's cost is mostly the worker's start-up
# (imports), which five processes share the two cores for; every stop is still its own.
BATCH = int(os.environ.get("DBAAS_STOP_BATCH", "5"))
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
        self.signalled_at: float | None = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self) -> None:
        """SIGTERM, as supervisord sends it."""
        self.signalled_at = time.monotonic()
        self.process.send_signal(signal.SIGTERM)

    def wait(self) -> tuple[int, float]:
        """(exit status, seconds from the SIGTERM to the exit)."""
        assert self.signalled_at is not None
        left = STOPWAITSECS - (time.monotonic() - self.signalled_at)
        try:
            code = self.process.wait(timeout=max(left, 0.1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.name}: not stopped within stopwaitsecs:\n{self.text()}")
        return code, time.monotonic() - self.signalled_at


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


def _batches() -> Iterator[range]:
    for first in range(0, ROUNDS, BATCH):
        yield range(first, min(first + BATCH, ROUNDS))


def test_an_idle_worker_stops_gracefully_every_time(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    env = _environment(database_url, redis_url, sim) | {"DBAAS_HOME": str(tmp_path)}
    durations = []
    for batch in _batches():
        workers = [WorkerProcess(tmp_path, env, f"idle-{round_}") for round_ in batch]
        for worker in workers:
            # Idle: registered, subscribed to its command channel, waiting on the queue.
            SimCluster.wait_for(
                lambda worker=worker: (
                    "Listening on" in worker.text() or worker.process.poll() is not None
                ),
                timeout=60,
            )
            assert worker.process.poll() is None, worker.text()
        for worker in workers:
            worker.signal()
        for worker in workers:
            code, seconds = worker.wait()
            assert code == 0, worker.text()
            assert "stopped" in worker.text().splitlines()[-1], worker.text()
            durations.append(seconds)
        assert [w.name for w in Worker.all(connection=world.redis)] == []
    assert len(durations) == ROUNDS
    _report("idle", durations)


def test_a_busy_worker_finishes_its_step_and_stops_gracefully_every_time(
    world: World, sim: SimCluster, tmp_path: Path, database_url: str, redis_url: str
) -> None:
    env = _environment(database_url, redis_url, sim) | {"DBAAS_HOME": str(tmp_path)}
    # The create step's Kubernetes call takes 1 s: the SIGTERM lands inside the job.
    sim.set_latency(1.0, verbs=["create"])
    durations = []
    for batch in _batches():
        # One queue per worker, so each carries exactly one job of its own.
        workers, creates = [], []
        for round_ in batch:
            queue = f"{QUEUE}-{round_}"
            _, create = world.create("redis", f"cache-{round_}", enqueue=False)
            queue_client.enqueue_operations(
                queue_client.operation_queue(world.redis, queue), [create.id]
            )
            creates.append(create)
            name = f"busy-{round_}"
            workers.append(WorkerProcess(tmp_path, env | {"DBAAS_QUEUE_NAME": queue}, name))
        # Each worker is signalled as soon as its operation is seen running: inside the step.
        unsignalled = set(range(len(workers)))
        deadline = time.monotonic() + 60
        while unsignalled:
            assert time.monotonic() < deadline, "workers did not claim their operations"
            for index in sorted(unsignalled):
                worker, state = workers[index], world.op(creates[index].id).state
                assert worker.process.poll() is None, worker.text()
                if state == "running":
                    worker.signal()
                    unsignalled.discard(index)
                else:
                    assert state == "pending", (state, worker.text())
            time.sleep(0.05)
        for worker, create in zip(workers, creates, strict=True):
            code, seconds = worker.wait()
            assert code == 0, worker.text()
            # warm shutdown: the step finished and handed the operation to KubeDB
            assert world.op(create.id).state == "waiting", worker.text()
            assert f"operation {create.id}: waiting" in worker.text()
            durations.append(seconds)
        assert [w.name for w in Worker.all(connection=world.redis)] == []
    assert len(durations) == ROUNDS
    _report("busy", durations)

"""kill -9 of one program of the pod at seeded random points while a burst of operations runs.

Each test sends 30 creates + 60 changes through the API (four client threads), crashes one
program twice under the real supervisord (the worker: with one worker process and with
three, all of them at each kill), and then demands the same end state: every
operation succeeded exactly once, no OpsRequest was created twice, every database is Ready
with observed == desired, and the program runs again under a new pid.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pod import Pod, running_pod, wait_for
from tests.faults import workload
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

PLAN = Plan()
kill_points = workload.seeded_points


def running_operations(pod: Pod, state: str) -> int:
    return workload.states(pod)[state]


@pytest.fixture(params=[1, 3], ids=["1-worker", "3-workers"])
def workers_pod(
    request: pytest.FixtureRequest, database_url: str, redis_url: str, sim: SimCluster, home: Path
) -> Iterator[Pod]:
    """The pod with one worker process (as deployed) and with three (DBAAS_WORKER_PROCESSES),
    which claim operations of the same burst side by side."""
    with running_pod(
        home,
        database_url=database_url,
        redis_url=redis_url,
        kubeconfig=sim.kubeconfig,
        env={"DBAAS_WORKER_PROCESSES": str(request.param)},
    ) as running:
        yield running


@pytest.mark.slow
def test_kill_9_of_the_worker_mid_operation_loses_and_duplicates_nothing(
    workers_pod: Pod, sim: SimCluster
) -> None:
    pod = workers_pod
    # The sim makes each create at once and holds its answer back: while an answer is held,
    # a worker is between "the object exists" and mark_waiting. Each kill waits for such a
    # moment (the pids are known beforehand, so nothing slow sits between seeing it and the
    # kill) and kills every worker process, whichever holds the answer: the re-run must meet
    # AlreadyExists.
    sim.set_latency(0.3, verbs=["create"], after=True)
    burst = Burst(pod, PLAN).start()
    specs = pod.specs("worker")
    pids = {
        spec: wait_for(lambda spec=spec: pod.pid(spec), timeout=30, what=f"{spec}'s pid")
        for spec in specs
    }
    seen = set(pids.values())
    points = kill_points("worker", low=5, high=PLAN.operations - 30)
    for point in points:
        wait_for(
            lambda point=point: workload.finished(pod) >= point,
            timeout=90,
            what=f"operation {point} ended",
        )
        wait_for(
            lambda: sim.stats()["held_answers"] > 0,
            timeout=90,
            what="a worker waiting for the answer to a create the sim made",
        )
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
        pids = {spec: pod.wait_back(spec, pid) for spec, pid in pids.items()}
        seen |= set(pids.values())
    burst.join()
    workload.settle(pod, PLAN, timeout=90)
    outcome = workload.check_outcome(pod, sim, PLAN, burst.ids)
    assert outcome.resumed >= 1, "no operation was interrupted by the kills"
    # each kill: a new process for every worker process
    assert len(seen) == (1 + len(points)) * len(specs)
    assert "already existed" in pod.log(), "no re-run met an object the killed worker made"


def test_kill_9_of_status_sync_while_operations_wait_loses_nothing(
    pod: Pod, sim: SimCluster
) -> None:
    # Slow creates spread the work over ~20 s: the restarted status-sync (RUNNING after
    # startsecs) still finds operations to complete when the second kill comes.
    sim.set_latency(0.15, verbs=["create"])
    burst = Burst(pod, PLAN).start()
    for point in kill_points("status-sync", low=5, high=PLAN.operations - 30):
        # While operations wait for it (an instant may show none: completions come in batches).
        wait_for(
            lambda point=point: workload.finished(pod) >= point and workload.open_operations(pod),
            timeout=90,
            what=f"operation {point} ended and some still open",
        )
        old = pod.kill("status-sync")
        pod.wait_back("status-sync", old)
    burst.join()
    workload.settle(pod, PLAN, timeout=90)
    workload.check_outcome(pod, sim, PLAN, burst.ids)
    assert pod.log().count("status-sync: became the leader") >= 3


def test_kill_9_of_the_api_mid_request_loses_and_duplicates_nothing(
    pod: Pod, sim: SimCluster
) -> None:
    burst = Burst(pod, PLAN, pace=0.5).start()
    for point in kill_points("api", low=5, high=PLAN.requests - 30):
        burst.wait_answered(point)
        assert burst.answered < PLAN.requests, "the burst ended before the kill"
        old = pod.kill("api")  # one process (DBAAS_API_WORKERS=1): the whole program
        pod.wait_back("api", old)
    burst.join()
    workload.settle(pod, PLAN, timeout=90)
    workload.check_outcome(pod, sim, PLAN, burst.ids)


@pytest.fixture
def pod_with_api_workers(
    database_url: str, redis_url: str, sim: SimCluster, home: Path
) -> Iterator[Pod]:
    """A pod whose api is a Hypercorn master with two forked workers."""
    with running_pod(
        home,
        database_url=database_url,
        redis_url=redis_url,
        kubeconfig=sim.kubeconfig,
        env={"DBAAS_API_WORKERS": "2"},
    ) as running:
        yield running


def test_kill_9_of_the_api_master_takes_its_hypercorn_workers_down_too(
    pod_with_api_workers: Pod,
) -> None:
    pod = pod_with_api_workers
    master = wait_for(lambda: pod.pid("api"), timeout=30, what="the api pid")
    workers_before = pod.children(master)  # the Hypercorn workers
    assert len(workers_before) == 2
    old = pod.kill("api")
    pod.wait_back("api", old)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and workers_before & set(pod.processes()):
        time.sleep(0.2)
    orphans = workers_before & set(pod.processes())
    for pid in orphans:  # so the pod's own leak check does not report them a second time
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"Hypercorn workers of the killed master still run: {sorted(orphans)}"

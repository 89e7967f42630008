"""The whole pod on the host under the real supervisord, as `make run` and the container run it.

The repository's supervisord.conf through the launcher, the four programs as supervisord
starts them, real PostgreSQL and Redis, the simulated cluster. Operators' moves
(`supervisorctl restart`, `stop`, `start`), crashes (kill -9), a program that cannot start
and the pod's own stop, each with operations in flight where that matters. The fault suite
(tests/faults) pushes the same harness harder.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.supervision import states, supervise
from tests.container import supervisord_conf
from tests.e2e.control_plane import in_sync
from tests.e2e.pod import Pod, running_pod, short_home, wait_for
from tests.faults import workload
from tests.faults.test_pod_stop import stop_statuses
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

# Every kind of change the worker applies differently: an OpsRequest (scale, upgrade) and a
# patch of the CR that completes at once (configure: the deletion policy).
PLAN = Plan(
    databases=10,
    changes=({"replicas": 3}, {"deletion_policy": "WipeOut"}, {"version": "16.13"}),
)


@pytest.fixture
def home() -> Iterator[Path]:
    with short_home() as path:
        yield path


@pytest.fixture
def pod(database_url: str, redis_url: str, sim: SimCluster, home: Path) -> Iterator[Pod]:
    with running_pod(
        home, database_url=database_url, redis_url=redis_url, kubeconfig=sim.kubeconfig
    ) as running:
        yield running


def readyz(pod: Pod) -> httpx.Response:
    return httpx.get(f"{pod.api_url}/readyz", timeout=10)


def test_all_four_programs_run_and_a_database_created_through_the_api_becomes_ready(
    pod: Pod,
) -> None:
    listed = dict(line.split()[:2] for line in pod.ctl("status").stdout.splitlines())
    assert listed == {name: "RUNNING" for name in pod.specs()}  # worker:worker-0 ...
    ready = readyz(pod)
    assert ready.status_code == 200
    assert ready.json()["checks"]["programs"]["status"] == "ok"
    response = pod.call(
        "POST",
        "/v1/databases",
        json={"name": "orders", "engine": "postgres", "version": "16.4", "storage": "10Gi"},
    )
    assert response.status_code == 202, response.text
    database_id = response.json()["id"]

    def converged() -> dict[str, object] | None:
        db = pod.database(database_id)
        caught_up = db["status"]["observed_generation"] == db["generation"]
        return db if db["state"] == "ready" and caught_up and in_sync(db) else None

    db = wait_for(converged, timeout=60, what="orders to be Ready")
    assert db["status"]["phase"] == "Ready"
    (operation,) = pod.call("GET", f"/v1/databases/{database_id}/operations").json()["items"]
    assert (operation["type"], operation["state"]) == ("create", "succeeded")


def test_supervisorctl_restart_worker_with_operations_in_flight_loses_nothing(
    pod: Pod, sim: SimCluster
) -> None:
    sim.set_latency(0.1, verbs=["create"])
    burst = Burst(pod, PLAN).start()
    (point,) = workload.seeded_points("restart-worker", low=3, high=PLAN.operations - 10, count=1)
    workload.wait_progress(pod, point, timeout=60)
    olds = {spec: pod.pid(spec) for spec in pod.specs("worker")}
    output = pod.ctl("restart", "worker:*").stdout  # every worker process
    for spec, old in olds.items():
        assert f"{spec}: stopped" in output and f"{spec}: started" in output, output
        assert pod.wait_back(spec, old) != old
    for name in pod.process_names("worker"):
        assert stop_statuses(pod.log())[name] == "exit status 0"  # a warm shutdown
    burst.join()
    workload.settle(pod, PLAN, timeout=90)
    workload.check_outcome(pod, sim, PLAN, burst.ids)


def test_kill_9_of_each_program_with_operations_in_flight_loses_nothing_and_it_comes_back(
    pod: Pod, sim: SimCluster
) -> None:
    sim.set_latency(0.1, verbs=["create"])
    burst = Burst(pod, PLAN).start()
    points = workload.seeded_points("kill-each", low=3, high=PLAN.operations - 15, count=4)
    programs = (pod.specs("worker")[-1], "status-sync", "drift", "api")
    for program, point in zip(programs, points, strict=True):
        workload.wait_progress(pod, point, timeout=90)
        old = pod.kill(program)  # the api too is one process (DBAAS_API_WORKERS=1)
        assert pod.wait_back(program, old) != old
    burst.join()
    workload.settle(pod, PLAN, timeout=90)
    workload.check_outcome(pod, sim, PLAN, burst.ids)
    assert pod.fatal_reason() is None
    assert all(state == states.RUNNING for state in pod.all_states().values())


def test_a_program_that_cannot_start_goes_fatal_and_the_pod_exits_non_zero(
    database_url: str, redis_url: str, sim: SimCluster, home: Path
) -> None:
    with (
        socket.socket() as squatter,  # the API's port, taken before the pod starts
        running_pod(
            home,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            start=False,
        ) as pod,
    ):
        squatter.bind(("127.0.0.1", pod.api_port))
        squatter.listen(1)
        started = time.monotonic()
        pod.start()
        code = pod.wait_exit(timeout=90)
        elapsed = time.monotonic() - started
        log = pod.log()
    assert code == supervise.EXIT_PROGRAM_FATAL, log[-5000:]
    print(f"figures: the pod gave up after {elapsed:.1f}s")
    assert "gave up: api entered FATAL state" in log
    assert "dbaas: program api went FATAL (from BACKOFF): stopping every program" in log
    assert "received SIGTERM" not in log  # supervisord ended itself, in its own process
    assert "supervise: exiting 1: program api went FATAL" in log
    assert "address already in use" in log.lower()
    stopped = stop_statuses(log)
    names = [*pod.process_names("worker"), "status-sync", "drift"]
    assert {p: stopped.get(p) for p in names} == dict.fromkeys(names, "exit status 0")


def test_sigterm_to_supervisord_ends_everything_in_order_within_budget_and_loses_nothing(
    pod: Pod, sim: SimCluster
) -> None:
    sim.set_latency(0.1, verbs=["create"])
    burst = Burst(pod, PLAN, retry_seconds=120).start()
    workload.wait_progress(pod, 3, timeout=60)
    budget = supervisord_conf.stop_budget_seconds()
    code, seconds = pod.terminate(timeout=budget)
    assert code == 0
    print(f"figures: the pod stopped in {seconds:.1f}s of a {budget}s budget")
    assert not pod.processes()
    stopped = [
        line.split("stopped: ")[1].split()[0]
        for line in pod.log().splitlines()
        if "INFO stopped: " in line
    ]
    # worker-0, worker-1...: the processes of program worker stop together
    order = list(dict.fromkeys(supervisord_conf.program_of(name) for name in stopped))
    assert order == supervisord_conf.stop_order()
    assert set(stop_statuses(pod.log()).values()) == {"exit status 0"}
    pod.start()
    pod.wait_ready()
    burst.join(timeout=180)
    workload.settle(pod, PLAN, timeout=90)
    workload.check_outcome(pod, sim, PLAN, burst.ids)


def test_readyz_names_a_stopped_program_and_recovers_when_it_starts(pod: Pod) -> None:
    assert pod.ctl("stop", "drift").stdout.strip() == "drift: stopped"
    not_ready = readyz(pod)
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    programs = not_ready.json()["checks"]["programs"]
    assert (programs["status"], programs["detail"]) == ("failed", "not running: drift STOPPED")
    assert pod.alive, "a stopped program is an operator's choice, not a FATAL"
    assert pod.ctl("start", "drift").stdout.strip() == "drift: started"
    assert readyz(pod).status_code == 200

"""SIGTERM to the whole pod mid-burst (what Kubernetes sends on a rollout or an eviction).

supervisord stops the programs one after another; each finishes what it is doing (the API
drains its requests, the worker its job, the reconcilers their cycle) and exits 0, well
within the stop budget of supervisord.conf's header (80 s, below the pod's 90 s grace
period), leaving no process behind. The pod then starts again on the same database and
queue, the client's retries go through, and every operation accepted before, during or
after the stop completes exactly once.
"""

from __future__ import annotations

import re

import pytest

from tests.container import supervisord_conf
from tests.e2e.pod import Pod, wait_for
from tests.faults import workload
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

PLAN = Plan()


def stop_statuses(log: str) -> dict[str, str]:
    """How supervisord reported each program's stop: `exit status 0`, `terminated by ...`."""
    return dict(re.findall(r"stopped: ([\w-]+) \(([^)]*)\)", log))


@pytest.mark.slow
def test_sigterm_to_the_pod_mid_burst_stops_within_budget_and_a_restart_completes_all(
    pod: Pod, sim: SimCluster
) -> None:
    sim.set_latency(0.05, verbs=["create"])  # keeps work in flight when the signal lands
    burst = Burst(pod, PLAN, retry_seconds=120).start()
    (stop_at,) = workload.seeded_points("sigterm", low=10, high=PLAN.operations - 30, count=1)
    wait_for(
        lambda: workload.finished(pod) >= stop_at and workload.pending_backlog(pod),
        timeout=90,
        what=f"{stop_at} operations ended with a backlog",
    )
    code, seconds = pod.terminate(timeout=supervisord_conf.stop_budget_seconds())
    assert code == 0, pod.log_tail()
    print(f"figures: the pod stopped in {seconds:.1f}s")
    assert not pod.processes(), "processes of the pod outlived its stop"
    stopped = stop_statuses(pod.log())
    names = pod.process_names()  # worker-0, worker-1...: the names supervisord logs
    assert {p: stopped.get(p) for p in names} == {p: "exit status 0" for p in names}
    left = sum(workload.states(pod)[state] for state in workload.OPEN)
    assert left > 0, "nothing was left for the restarted pod to do"

    pod.start()
    pod.wait_ready()
    burst.join(timeout=180)
    workload.settle(pod, PLAN, timeout=120)
    workload.check_outcome(pod, sim, PLAN, burst.ids)

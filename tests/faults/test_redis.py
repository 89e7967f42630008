"""Redis is only the queue: flushed and then restarted mid-burst, no operation is lost.

The pod runs over a private redis-server (the shared one must not be restarted). FLUSHDB
drops every queued job at a seeded point while operations wait for the worker; later the
server dies (SIGKILL, no persistence) and comes back empty. The API keeps accepting
(enqueue failures are left to the sweeper), status-sync's sweeper re-dispatches what
waited longer than DBAAS_PENDING_REDISPATCH_SECONDS, and no program goes FATAL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.supervision import states
from tests.e2e.pod import Pod, running_pod, wait_for
from tests.faults import workload
from tests.faults.servers import private_redis
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

PLAN = Plan()


def readyz_names_redis(pod: Pod) -> bool:
    try:
        response = httpx.get(f"{pod.api_url}/readyz", timeout=5.0)
    except httpx.TransportError:
        return False
    if response.status_code != 503:
        return False
    return bool(response.json()["checks"]["redis"]["status"] == "failed")


@pytest.mark.slow
def test_redis_flushed_then_restarted_mid_burst_loses_no_operation(
    database_url: str, sim: SimCluster, home: Path
) -> None:
    with (
        private_redis(home / "redis") as redis_server,
        running_pod(
            home, database_url=database_url, redis_url=redis_server.url, kubeconfig=sim.kubeconfig
        ) as pod,
    ):
        pids = {process: pod.pid(process) for process in pod.specs()}
        # Slow OpsRequest creates keep a backlog of jobs in the queue for the flush to drop.
        sim.set_latency(0.1, verbs=["create"])
        burst = Burst(pod, PLAN).start()
        flush_at, crash_at = workload.seeded_points("redis", low=5, high=PLAN.operations - 40)
        wait_for(
            lambda: workload.finished(pod) >= flush_at and workload.pending_backlog(pod),
            timeout=90,
            what=f"{flush_at} operations ended with a backlog",
        )
        redis_server.flush()
        wait_for(
            lambda: workload.finished(pod) >= crash_at and workload.pending_backlog(pod),
            timeout=90,
            what=f"{crash_at} operations ended with a backlog",
        )
        redis_server.stop()
        wait_for(lambda: readyz_names_redis(pod), timeout=30, what="/readyz to name redis")
        redis_server.start()
        burst.join()
        workload.settle(pod, PLAN, timeout=120)
        workload.check_outcome(pod, sim, PLAN, burst.ids)
        assert pod.fatal_reason() is None
        assert all(pod.state(p) == states.RUNNING for p in pod.specs()), pod.all_states()
        restarted = {p for p in pod.specs() if pod.pid(p) != pids[p]}
        assert not restarted, (
            f"programs exited on the Redis outage instead of retrying: {restarted}"
        )
        assert "swept" in pod.log(), "the sweeper re-dispatched nothing"

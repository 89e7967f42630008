"""A pod that starts before PostgreSQL and Redis (the usual order on a fresh cluster).

Every program must stay up and wait for its dependencies with backoff: exiting within
startsecs would make supervisord retry it three times, declare it FATAL and end the pod,
and Kubernetes would restart-loop it until the databases happen to be up first. The
outage outlasts that FATAL path; then both come up and the pod works without a restart.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest

from services.supervision import states
from tests.api_harness import Cuttable
from tests.container import supervisord_conf
from tests.e2e.pod import admin_key, running_pod, wait_for
from tests.faults import workload
from tests.faults.servers import PrivateRedis
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

OUTAGE_SECONDS = supervisord_conf.fatal_path_seconds() + 2.0  # outlasts the FATAL path
PLAN = Plan(databases=6)


@pytest.mark.slow
def test_a_pod_started_before_postgres_and_redis_waits_for_them_and_then_works(
    database_url: str, sim: SimCluster, home: Path
) -> None:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = Cuttable((str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))))
    proxied = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    redis_server = PrivateRedis(home / "redis")  # its port is chosen, nothing listens yet
    key = admin_key(database_url)
    try:
        with running_pod(
            home,
            database_url=proxied,
            redis_url=redis_server.url,
            kubeconfig=sim.kubeconfig,
            key=key,
            ready=False,
        ) as pod:
            started = time.monotonic()
            wait_for(
                lambda: all(pod.state(p) == states.RUNNING for p in pod.specs()),
                timeout=30,
                what=f"every program RUNNING without its databases ({pod.all_states()})",
            )
            pids = {process: pod.pid(process) for process in pod.specs()}
            # RUNNING means "up for startsecs", not "listening": on a slow host the api may
            # bind its port a moment later.
            readyz = wait_for(
                lambda: _answer(f"{pod.api_url}/readyz"),
                timeout=30,
                what="the api to answer /readyz",
            )
            assert readyz.status_code == 503
            checks = readyz.json()["checks"]
            assert (checks["postgres"]["status"], checks["redis"]["status"]) == ("failed",) * 2
            wait_for(
                lambda: time.monotonic() - started >= OUTAGE_SECONDS,
                timeout=OUTAGE_SECONDS + 5,
                what="the outage to last",
            )
            assert pod.alive and pod.fatal_reason() is None, pod.log_tail()
            assert {p: pod.pid(p) for p in pod.specs()} == pids, "a program exited meanwhile"
            proxy.restore()
            redis_server.start()
            pod.wait_ready(timeout=60)
            burst = Burst(pod, PLAN).start()
            burst.join()
            workload.settle(pod, PLAN, timeout=60)
            workload.check_outcome(pod, sim, PLAN, burst.ids)
            assert {p: pod.pid(p) for p in pod.specs()} == pids, "a program restarted"
    finally:
        proxy.cut()
        redis_server.stop()


def _answer(url: str) -> httpx.Response | None:
    """The answer to a GET of `url`; None while nothing accepts the connection."""
    try:
        return httpx.get(url, timeout=10)
    except httpx.ConnectError:
        return None

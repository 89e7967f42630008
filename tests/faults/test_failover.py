"""A leader that cannot work is replaced: frozen (kill -STOP) or cut off from the cluster.

Two pods share the database and the queue, as two replicas of the Deployment do. Whichever
leads status-sync (or drift) is frozen with SIGSTOP: its pod's supervisord watchdog kills it
once its heartbeat is DBAAS_HEARTBEAT_TIMEOUT_SECONDS old, which ends its PostgreSQL session
and with it the advisory lock, and the other pod's standby takes the role; the operations
queued meanwhile complete, and /metrics says which pod leads. With one pod the frozen
program is restarted and the operations complete too. A leader whose pod cannot reach the
cluster gives both roles up (DBAAS_LEADER_GIVE_UP_SECONDS) to the pod that can.

The durations are printed (`-s`); each wait is bounded by its timeout only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.clients import postgres
from services.supervision import heartbeats
from tests.e2e.pod import Pod, running_pod, short_home, wait_for
from tests.fixtures_sim import SimCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROLES = ("status-sync", "drift")


def leader_series(pod: Pod) -> dict[str, float]:
    """dbaas_leader{role} as the pod's /metrics shows it."""
    text = httpx.get(f"{pod.api_url}/metrics", timeout=10).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dbaas_leader":
                found[sample.labels["role"]] = sample.value
    return found


def leads(pod: Pod, role: str) -> bool:
    beat = heartbeats.read(pod.home, role)
    return bool(beat and beat.leader and beat.age() < 5 and beat.pid == pod.pid(role))


def create_databases(pod: Pod, count: int, prefix: str) -> list[str]:
    """`count` creates through the pod's API; their operation ids."""
    ids = []
    for index in range(count):
        response = pod.call(
            "POST",
            "/v1/databases",
            json={
                "name": f"{prefix}-{index}",
                "engine": "redis",
                "version": "7.4.6",
                "storage": "1Gi",
            },
            headers={"Idempotency-Key": f"{prefix}-{index}"},
        )
        assert response.status_code == 202, response.text
        ids.extend(op["id"] for op in response.json()["operations"])
    return ids


def operation_states(pod: Pod, ids: list[str]) -> dict[str, str]:
    with postgres.connect(pod.database_url) as conn:
        rows = conn.execute(
            "SELECT id::text AS id, state FROM operations WHERE id::text = ANY(%s)", (ids,)
        ).fetchall()
    return {row["id"]: row["state"] for row in rows}


def wait_succeeded(pod: Pod, ids: list[str], *, timeout: float = 120) -> None:
    wait_for(
        lambda: set(operation_states(pod, ids).values()) == {"succeeded"},
        timeout=timeout,
        what=f"every operation succeeded ({operation_states(pod, ids)})",
    )


@pytest.fixture
def two_pods(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[tuple[Pod, Pod]]:
    queue = f"pods-{uuid.uuid4().hex[:8]}"
    env = {"DBAAS_QUEUE_NAME": queue}
    with (
        short_home("dbaas-a-") as home_a,
        short_home("dbaas-b-") as home_b,
        running_pod(
            home_a,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            env=env,
        ) as first,
    ):
        # the first pod leads both roles before the second starts
        wait_for(lambda: all(leads(first, r) for r in ROLES), timeout=60, what="a leader")
        with running_pod(
            home_b,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            env=env,
            key=first.key,
        ) as second:
            yield first, second


@pytest.mark.parametrize("role", ROLES)
def test_kill_stop_of_the_leader_moves_leadership_and_queued_operations_complete(
    two_pods: tuple[Pod, Pod], role: str
) -> None:
    leader, standby = two_pods
    assert leads(leader, role) and not leads(standby, role)
    assert leader_series(leader)[role] == 1 and leader_series(standby)[role] == 0
    frozen = leader.kill(role, signal.SIGSTOP)
    started = time.monotonic()
    try:
        ids = create_databases(standby, 6, f"during-{role}")
        wait_for(lambda: leads(standby, role), timeout=90, what=f"the standby to lead {role}")
        moved = time.monotonic() - started
        wait_succeeded(standby, ids)
        completed = time.monotonic() - started
        # the frozen process was killed and replaced by its own pod's supervisord
        new = leader.wait_back(role, frozen, timeout=60)
    finally:
        with_sigcont(frozen)
    print(
        f"\n{role}: leader frozen -> standby leads after {moved:.1f} s; "
        f"6 queued creates succeeded after {completed:.1f} s"
    )
    assert new != frozen
    assert leader_series(standby)[role] == 1
    assert leader_series(leader)[role] == 0
    assert "has not beaten for" in leader.log()


def with_sigcont(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # killed by the watchdog, as intended
        os.kill(pid, signal.SIGCONT)


def test_one_pod_restarts_a_frozen_status_sync_and_its_operations_complete(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    with (
        short_home() as home,
        running_pod(
            home, database_url=database_url, redis_url=redis_url, kubeconfig=sim.kubeconfig
        ) as pod,
    ):
        frozen = pod.kill("status-sync", signal.SIGSTOP)
        started = time.monotonic()
        try:
            ids = create_databases(pod, 6, "alone")
            new = pod.wait_back("status-sync", frozen, timeout=60)
            restarted = time.monotonic() - started
            wait_succeeded(pod, ids)
            completed = time.monotonic() - started
        finally:
            with_sigcont(frozen)
        print(
            f"\none pod: frozen status-sync restarted after {restarted:.1f} s; "
            f"6 creates succeeded after {completed:.1f} s"
        )
        assert new != frozen
        pod.wait_ready()


def test_a_leader_cut_off_from_the_cluster_gives_both_roles_to_the_pod_that_reaches_it(
    database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path
) -> None:
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(
        sim.kubeconfig.read_text().replace(sim_server(sim), "http://127.0.0.1:1")
    )
    # each pod has its own queue, and the cut-off pod's worker (which cannot reach the
    # cluster either) is stopped: this test is about the reconcilers
    with (
        short_home("dbaas-cut-") as home_cut,
        short_home("dbaas-ok-") as home_ok,
        running_pod(
            home_cut,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=unreachable,
            ready=False,
        ) as cut,
    ):
        wait_for(lambda: all(leads(cut, r) for r in ROLES), timeout=60, what="a leader")
        cut.ctl("stop", "worker:*")  # every worker process
        with running_pod(
            home_ok,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            key=cut.key,
        ) as reaching:
            started = time.monotonic()
            ids = create_databases(reaching, 4, "cut")
            moved = {}
            for role in ROLES:
                wait_for(
                    lambda role=role: leads(reaching, role),
                    timeout=90,
                    what=f"the pod that reaches the cluster to lead {role}",
                )
                moved[role] = time.monotonic() - started
            wait_succeeded(reaching, ids)
            completed = time.monotonic() - started
            assert not any(leads(cut, role) for role in ROLES)
            assert leader_series(reaching) == {"status-sync": 1, "drift": 1}
            assert "giving leadership up" in cut.log()
    print(
        "\ncut off from the cluster: "
        + ", ".join(f"{role} moved after {seconds:.1f} s" for role, seconds in moved.items())
        + f"; 4 creates succeeded after {completed:.1f} s"
    )


def sim_server(sim: SimCluster) -> str:
    for line in sim.kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            return line.split("server:", 1)[1].strip()
    raise AssertionError("no server in the sim's kubeconfig")

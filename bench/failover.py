"""Benchmark: how fast a frozen leader is replaced, and a dead worker's operation resumed.

    .venv/bin/python bench/failover.py [--rounds 3]

Each round, with the production defaults (heartbeat timeout 10 s, give-up 10 s, operation
lease 60 s, standby retry 2 s):

1. Failover: two pods (the launcher, supervisord.conf, all four programs each) share a
   throwaway database, a Redis db, one queue and the simulated cluster. The pod that leads
   status-sync gets `kill -STOP` on its status-sync; figure: seconds until the other pod's
   status-sync leads (its heartbeat says so), and until a create sent right after the
   freeze has succeeded.
2. Orphan resume: one pod; a scale (HorizontalScaling OpsRequest) whose create the sim
   makes at once but answers 3 s late, so the worker is mid-step; the worker gets
   `kill -9`. Figure: seconds from the kill until another worker has claimed the operation
   (its attempt counter moved) and until it succeeded; the OpsRequest must have been
   created exactly once. The baseline in the same run is the lease the claim would have
   waited out without heartbeats (DBAAS_OPERATION_LEASE_SECONDS, 60 s).

Uses the test suite's pod and sim helpers (tests/e2e/pod.py, tests/fixtures_sim.py).
Progress goes to stderr; stdout gets a table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from services.clients import postgres
from services.store import projects
from services.supervision import heartbeats
from tests.e2e.pod import PROJECT, Pod, running_pod, short_home, wait_for
from tests.fixtures_sim import SimCluster, start_server, stop_server

# The pod helper shortens leases for the fault tests; the figures need the real defaults.
DEFAULTS = {
    "DBAAS_OPERATION_LEASE_SECONDS": "60",
    "DBAAS_PENDING_REDISPATCH_SECONDS": "30",
    "DBAAS_DRIFT_INTERVAL_SECONDS": "60",
}


def leads(pod: Pod, role: str) -> bool:
    beat = heartbeats.read(pod.home, role)
    return bool(beat and beat.leader and beat.age() < 5 and beat.pid == pod.pid(role))


def create(pod: Pod, name: str, **spec: object) -> tuple[str, str]:
    """A create through the API: (database id, operation id)."""
    response = pod.call(
        "POST",
        "/v1/databases",
        json={"name": name, "engine": "redis", "version": "7.4.6", "storage": "1Gi"} | spec,
        headers={"Idempotency-Key": name},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    return str(body["id"]), str(body["operations"][0]["id"])


def operation(pod: Pod, op_id: str) -> dict[str, object]:
    with postgres.connect(pod.database_url) as conn:
        row = conn.execute(
            "SELECT state, attempt, lease_owner, k8s_name FROM operations WHERE id = %s",
            (op_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def failover_round(database_url: str, redis_url: str, sim: SimCluster) -> tuple[float, float]:
    env = DEFAULTS | {"DBAAS_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}"}
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(
            running_pod(
                stack.enter_context(short_home("dbaas-fa-")),
                database_url=database_url,
                redis_url=redis_url,
                kubeconfig=sim.kubeconfig,
                env=env,
            )
        )
        wait_for(lambda: leads(first, "status-sync"), timeout=60, what="a leader")
        second = stack.enter_context(
            running_pod(
                stack.enter_context(short_home("dbaas-fb-")),
                database_url=database_url,
                redis_url=redis_url,
                kubeconfig=sim.kubeconfig,
                env=env,
                key=first.key,
            )
        )
        # let the second pod's status-sync beat (past its start) before the freeze
        wait_for(lambda: heartbeats.read(second.home, "status-sync"), timeout=60, what="a beat")
        frozen = first.kill("status-sync", signal.SIGSTOP)
        started = time.monotonic()
        _, op_id = create(second, f"fo-{uuid.uuid4().hex[:6]}")
        wait_for(lambda: leads(second, "status-sync"), timeout=120, what="the standby to lead")
        moved = time.monotonic() - started
        wait_for(
            lambda: operation(second, op_id)["state"] == "succeeded",
            timeout=120,
            what="the create to succeed",
        )
        done = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError):  # killed by the watchdog by now
            os.kill(frozen, signal.SIGCONT)
    return moved, done


def orphan_round(database_url: str, redis_url: str, sim: SimCluster) -> tuple[float, float]:
    with contextlib.ExitStack() as stack:
        pod = stack.enter_context(
            running_pod(
                stack.enter_context(short_home("dbaas-or-")),
                database_url=database_url,
                redis_url=redis_url,
                kubeconfig=sim.kubeconfig,
                env=DEFAULTS,
            )
        )
        name = f"or-{uuid.uuid4().hex[:6]}"
        database_id, created = create(pod, name, engine="postgres", version="16.13", replicas=2)
        wait_for(
            lambda: operation(pod, created)["state"] == "succeeded",
            timeout=120,
            what="the database to be created",
        )
        sim.set_latency(3.0, verbs=["create"], after=True)
        try:
            etag = pod.call("GET", f"/v1/databases/{database_id}").headers["etag"]
            response = pod.call(
                "PATCH",
                f"/v1/databases/{database_id}",
                json={"replicas": 3},
                headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
            )
            assert response.status_code == 202, response.text
            op_id = str(response.json()["operations"][0]["id"])
            wait_for(
                lambda: sim.stats()["held_answers"] > 0,
                timeout=60,
                what="the worker waiting for the OpsRequest's answer",
            )
            before = operation(pod, op_id)
            pod.kill("worker", signal.SIGKILL)
            started = time.monotonic()
        finally:
            sim.set_latency(0.0)
        wait_for(
            lambda: int(operation(pod, op_id)["attempt"]) > int(before["attempt"]),  # type: ignore[call-overload]
            timeout=120,
            what="another worker to claim the operation",
        )
        resumed = time.monotonic() - started
        wait_for(
            lambda: operation(pod, op_id)["state"] == "succeeded",
            timeout=120,
            what="the scale to succeed",
        )
        done = time.monotonic() - started
        ops_name = str(operation(pod, op_id)["k8s_name"])
        namespace = projects.namespace_for(PROJECT)
        created_times = sim.ops_created(namespace, ops_name)
        assert created_times == 1, f"OpsRequest {namespace}/{ops_name} created {created_times}x"
    return resumed, done


def main() -> int:
    parser = argparse.ArgumentParser(description="failover and orphan resume times")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    common.install_signal_handlers()
    failovers, orphans = [], []
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dbaas-bench-")))
        server = start_server(work, work / "crds")
        stack.callback(stop_server, server)
        sim = SimCluster(server)
        redis_url = stack.enter_context(common.benchmark_redis())
        for round_ in range(args.rounds):
            with common.throwaway_database() as database_url:
                sim.admin("POST", "/sim/reset")
                common.say(f"round {round_ + 1}: failover")
                failovers.append(failover_round(database_url, redis_url, sim))
            with common.throwaway_database() as database_url:
                sim.admin("POST", "/sim/reset")
                common.say(f"round {round_ + 1}: orphan resume")
                orphans.append(orphan_round(database_url, redis_url, sim))
    rows = [
        ["status-sync leader frozen -> standby leads (s)", *(f"{m:.1f}" for m, _ in failovers)],
        ["... and a create sent meanwhile succeeded (s)", *(f"{d:.1f}" for _, d in failovers)],
        [
            "worker killed mid-step -> operation claimed again (s)",
            *(f"{r:.1f}" for r, _ in orphans),
        ],
        ["... and the scale succeeded (s)", *(f"{d:.1f}" for _, d in orphans)],
        ["baseline: the lease it would wait out (s)", *(["60"] * len(orphans))],
    ]
    print(common.format_table(["what", *(f"round {i + 1}" for i in range(args.rounds))], rows))
    print(
        common.json_line(
            "failover",
            {
                "leader_moved_s": [round(m, 1) for m, _ in failovers],
                "create_done_s": [round(d, 1) for _, d in failovers],
                "orphan_claimed_s": [round(r, 1) for r, _ in orphans],
                "orphan_done_s": [round(d, 1) for _, d in orphans],
                "lease_s": 60,
            },
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

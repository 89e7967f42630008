"""No secret reaches the pod's logs: the whole pod, on the host, at DEBUG, provoked.

The real launcher and supervisord.conf (tests/e2e/pod.py) run api, worker, status-sync and
drift with a PostgreSQL URL and a Redis URL that carry passwords
(see tests/security/secrets.py). The test creates keys, creates databases and reads their
credentials (the simulated operator's random `-auth` passwords), and provokes the error
paths: forged, garbage and revoked keys, the key put where it does not belong (query
string, other headers, a request body), injected 500/503/429 answers from the cluster
on writes and Secret reads. Then it stops the pod and searches everything every program
wrote (supervisord passes each program's stdout and stderr to its own, captured whole) for
each key, its secret part, each password, and the URLs.

The same run checks the supervisor's control socket as it really is (mode 0700 under
DBAAS_HOME) and that supervisord listens on no TCP port. That the programs run as a
non-root user is checked in the container, where it matters:
tests/container/test_container.py::test_every_process_in_the_container_runs_as_the_non_root_user.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.api_harness import spec
from tests.e2e.pod import PROGRAMS, Pod, running_pod, short_home, wait_for
from tests.fixtures_sim import SimCluster
from tests.security.secrets import (
    DB_PASSWORD,
    KUBE_TOKEN,
    REDIS_PASSWORD,
    Secrets,
    postgres_url_with_password,
    redis_url_with_password,
)


def dbaas_keys(pod: Pod, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "keys", *args],
        env=pod.env | {"DBAAS_PROGRAM": "keys-cli"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def ready_credentials(pod: Pod, client: httpx.Client, database_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        response = client.get(f"/v1/databases/{database_id}/credentials")
        return response.json() if response.status_code == 200 else None

    return wait_for(read, timeout=60, what=f"credentials of {database_id}")


def provoke(pod: Pod, sim: SimCluster, secrets: Secrets) -> None:
    operator = dbaas_keys(pod, "create", "--project", "acme", "--role", "operator")
    revoked = dbaas_keys(pod, "create", "--project", "acme", "--role", "viewer")
    dbaas_keys(pod, "revoke", revoked.split("_")[1])
    secrets.add_key("the admin key", pod.key)
    secrets.add_key("an operator key", operator)
    secrets.add_key("a revoked key", revoked)
    prefix = operator.split("_")[1]
    forged = f"dbaas_{prefix}_{'Z' * 32}"
    secrets.add("a forged key", forged)

    with httpx.Client(base_url=pod.api_url, timeout=20) as anonymous:
        for token in (forged, revoked, "dbaas_garbage", operator + "x"):
            anonymous.get("/v1/databases", headers={"Authorization": f"Bearer {token}"})
        anonymous.get("/v1/databases", headers={"Authorization": f"Basic {operator}"})
        anonymous.get("/v1/databases", params={"api_key": operator})
        anonymous.get("/v1/engines", headers={"X-Api-Key": operator, "Cookie": f"k={operator}"})

    with httpx.Client(
        base_url=pod.api_url, headers={"Authorization": f"Bearer {operator}"}, timeout=20
    ) as client:
        client.post("/v1/databases", json=spec(operator))  # a key where a name should be
        client.post("/v1/databases", json={**spec("orders"), "password": DB_PASSWORD})
        first = client.post("/v1/databases", json=spec("orders"))
        assert first.status_code == 202, first.text
        secrets.add(
            "orders' password", ready_credentials(pod, client, first.json()["id"])["password"]
        )

        # The cluster fails: writes of the worker, then the API's Secret reads.
        sim.set_faults(
            errors=[
                {
                    "codes": [500, 503, 429],
                    "verbs": ["create"],
                    "resources": ["postgreses"],
                    "count": 3,
                },
                {"codes": [500], "verbs": ["get"], "resources": ["secrets"], "count": 2},
            ]
        )
        second = client.post("/v1/databases", json=spec("billing"))
        assert second.status_code == 202, second.text
        failed_reads = [
            client.get(f"/v1/databases/{first.json()['id']}/credentials") for _ in range(2)
        ]
        assert {r.status_code for r in failed_reads} == {503}
        secrets.add(
            "billing's password", ready_credentials(pod, client, second.json()["id"])["password"]
        )
        sim.clear_faults()
        client.patch(f"/v1/databases/{second.json()['id']}", json={"replicas": 3})


def test_no_key_password_or_url_ever_reaches_the_pods_logs(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    pg_url = postgres_url_with_password(database_url)
    redis_with_password = redis_url_with_password(redis_url)
    secrets = Secrets()
    secrets.add("the PostgreSQL password", DB_PASSWORD)
    secrets.add("the PostgreSQL URL", pg_url)
    if redis_with_password is not None:
        secrets.add("the Redis password", REDIS_PASSWORD)
        secrets.add("the Redis URL", redis_with_password)
    secrets.add("the cluster's bearer token", KUBE_TOKEN)
    with short_home() as home:
        with running_pod(
            home,
            database_url=pg_url,
            redis_url=redis_with_password or redis_url,
            kubeconfig=sim.kubeconfig,
            env={"DBAAS_LOG_LEVEL": "DEBUG"},
        ) as pod:
            socket = home / "supervisor.sock"
            socket_mode = stat.S_IMODE(socket.stat().st_mode)
            supervisord_ports = listening_tcp_ports(pod)
            provoke(pod, sim, secrets)
        log = pod.log()

    assert socket_mode == 0o700
    assert supervisord_ports == set()
    for program in PROGRAMS:  # the log holds every program's lines, not just one
        # the worker's processes log as worker-0, worker-1, ... (DBAAS_WORKER_PROCESSES)
        name = rf"{re.escape(program)}-\d+" if program == "worker" else re.escape(program)
        assert re.search(rf"^\S+ \S+ {name} (DEBUG|INFO|WARNING|ERROR) ", log, re.M), program
    assert "GET /v1/databases 401" in log
    assert "WARNING" in log
    leaked = secrets.found_in(log)
    assert leaked == [], "\n".join(
        f"{what}: {line}"
        for what in leaked
        for line in log.splitlines()
        if secrets.named[what] in line
    )[:5000]


def listening_tcp_ports(pod: Pod) -> set[int]:
    """The TCP ports supervisord (the launcher's process) listens on."""
    assert pod.process is not None
    pid = pod.process.pid
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports

"""`dbaas api` as supervisord runs it: a Hypercorn master with two spawned workers.

Checks what only the real process tree shows: /metrics adds up every worker's samples, and
SIGTERM to the master lets a request in flight finish before the process exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.clients import postgres
from services.control import databases as control
from services.domain import specs
from services.domain.engines import Engine
from services.store import keys
from tests.integration.test_api_harness import free_port, wait_until, waiting_on_locks


class ApiProcess:
    def __init__(self, process: subprocess.Popen[bytes], url: str, home: Path, log: Path):
        self.process, self.url, self.home, self.log = process, url, home, log


@pytest.fixture
def api_process(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[ApiProcess]:
    port = free_port()
    home = tmp_path / "home"
    log = tmp_path / "api.log"
    env = {
        **os.environ,
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_HOME": str(home),
        "DBAAS_KUBECONFIG": str(tmp_path / "no-cluster"),
        "DBAAS_API_PORT": str(port),
        "DBAAS_API_WORKERS": "2",
        "DBAAS_PROGRAM": "api",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api"], env=env, stdout=sink, stderr=sink
        )
    live = ApiProcess(process, f"http://127.0.0.1:{port}", home, log)

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{live.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, timeout=30)
        yield live
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _served(live: ApiProcess) -> int:
    """Sum of dbaas_api_requests_total for GET /healthz 200, as one scrape reports it."""
    text = httpx.get(f"{live.url}/metrics", timeout=5).text
    prefix = 'dbaas_api_requests_total{method="GET",route="/healthz",status="200"} '
    return sum(
        int(float(line[len(prefix) :])) for line in text.splitlines() if line.startswith(prefix)
    )


def test_metrics_add_up_the_requests_of_every_worker_process(api_process: ApiProcess) -> None:
    directory = api_process.home / "metrics" / "api"
    baseline = _served(api_process)  # the fixture's readiness probes count too
    sent = 0

    def both_workers_wrote() -> bool:
        nonlocal sent
        httpx.get(f"{api_process.url}/healthz", timeout=5)  # a new connection every time
        sent += 1
        return len(list(directory.glob("counter_*.db"))) == 2

    wait_until(both_workers_wrote, timeout=20)
    assert _served(api_process) == baseline + sent


def test_sigterm_lets_the_request_in_flight_finish_then_exits_zero(
    api_process: ApiProcess, database_url: str
) -> None:
    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id="alpha", role="operator")
        principal = keys.authenticate(conn, token)
        assert principal is not None
        spec = specs.DatabaseSpec(name="orders", engine=Engine.POSTGRES, version="16.13",
                                  replicas=1, storage="10Gi")  # fmt: skip
        database_id = control.create_database(conn, principal, spec).database.id
    answers: list[httpx.Response] = []

    def restart() -> None:
        answers.append(
            httpx.post(
                f"{api_process.url}/v1/databases/{database_id}/restart",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        )

    thread = threading.Thread(target=restart, name="in-flight-restart")
    with postgres.connect(database_url) as blocker:
        blocker.execute("SELECT 1 FROM databases WHERE id = %s FOR UPDATE", (database_id,))
        thread.start()
        wait_until(lambda: waiting_on_locks(database_url) == 1)
        api_process.process.send_signal(signal.SIGTERM)
        wait_until(lambda: not _accepting(api_process))  # both workers stopped accepting
        assert api_process.process.poll() is None
    thread.join(timeout=30)
    assert api_process.process.wait(timeout=20) == 0
    assert [response.status_code for response in answers] == [202]
    assert answers[0].json()["operations"][0]["type"] == "restart"
    assert uuid.UUID(answers[0].json()["id"]) == database_id


def _accepting(live: ApiProcess) -> bool:
    try:
        httpx.get(f"{live.url}/healthz", timeout=0.5)
    except httpx.TransportError:
        return False
    return True

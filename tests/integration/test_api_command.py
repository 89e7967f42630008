"""`dbaas api` as supervisord runs it: one process (the default), or a Hypercorn master
with two forked workers (`DBAAS_API_WORKERS=2`).

Checks what only the real process tree shows: one worker serves in the program's own
process with the listen backlog we configure; /metrics adds up every worker's samples; and
SIGTERM to the program lets a request in flight finish before the process exits 0.
"""

from __future__ import annotations

import os
import re
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
from services.commands import api
from services.control import databases as control
from services.domain import specs
from services.domain.engines import Engine
from services.store import keys
from tests.api_harness import free_port, wait_until, waiting_on_locks


class ApiProcess:
    def __init__(
        self, process: subprocess.Popen[bytes], *, port: int, home: Path, log: Path
    ) -> None:
        self.process, self.port, self.home, self.log = process, port, home, log
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(params=["1", "2"], ids=["one-process", "master-and-2-workers"])
def workers(request: pytest.FixtureRequest) -> str:
    """DBAAS_API_WORKERS of the `api_process` fixture (tests needing one value override it)."""
    value: str = request.param
    return value


@pytest.fixture
def api_process(
    database_url: str, redis_url: str, tmp_path: Path, workers: str
) -> Iterator[ApiProcess]:
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
        "DBAAS_API_WORKERS": workers,
        "DBAAS_PROGRAM": "api",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api"], env=env, stdout=sink, stderr=sink
        )
    live = ApiProcess(process, port=port, home=home, log=log)

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


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _listen_backlog(port: int) -> int:
    """The accept queue's capacity of the socket listening on `port` (ss: Send-Q)."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.match(r"LISTEN\s+\d+\s+(\d+)\s", out)
    assert match, out
    return int(match.group(1))


@pytest.mark.parametrize("workers", ["1"], indirect=True)
def test_one_worker_serves_in_the_program_s_own_process_with_no_master(
    api_process: ApiProcess,
) -> None:
    assert httpx.get(f"{api_process.url}/healthz", timeout=5).status_code == 200
    assert _children(api_process.process.pid) == []
    assert _listen_backlog(api_process.port) == api.LISTEN_BACKLOG
    assert len(list((api_process.home / "metrics" / "api").glob("counter_*.db"))) == 1


@pytest.mark.parametrize("workers", ["2"], indirect=True)
def test_two_workers_are_forked_by_a_master_onto_one_listen_backlog(
    api_process: ApiProcess,
) -> None:
    assert len(_children(api_process.process.pid)) == 2
    assert _listen_backlog(api_process.port) == api.LISTEN_BACKLOG


def test_metrics_add_up_the_requests_of_every_worker_process(
    api_process: ApiProcess, workers: str
) -> None:
    directory = api_process.home / "metrics" / "api"
    baseline = _served(api_process)  # the fixture's readiness probes count too
    sent = 0

    def every_worker_wrote() -> bool:
        nonlocal sent
        httpx.get(f"{api_process.url}/healthz", timeout=5)  # a new connection every time
        sent += 1
        return len(list(directory.glob("counter_*.db"))) == int(workers)

    wait_until(every_worker_wrote, timeout=20)
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
        wait_until(lambda: not _accepting(api_process))  # every worker stopped accepting
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

"""The API under test: a real Hypercorn server in a named thread, real PostgreSQL and Redis.

A pytest plugin (tests/conftest.py lists it in `pytest_plugins`): its fixtures (`api`,
`offline_api`, `cuttable_postgres`) are there for every test without an import; its helpers
(`LiveApi`, `running_api`, `spec`, `create`, `assert_problem`, `free_port`...) are imported
from here. The server is the same app `dbaas api` serves, on a free loopback port; clients
are plain httpx over TCP, so concurrency tests exercise the real server, pool and locks.
tests/integration/test_api_process.py checks the harness itself and the process-level
endpoints (health, readiness, outages).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette

from services.api.app import create_app
from services.clients import postgres
from services.settings import Settings
from services.store import keys
from services.supervision import states

DEADLINE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], *, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


def waiting_on_locks(database_url: str) -> int:
    """How many sessions of this test's database wait on a lock (a row lock, say)."""
    with postgres.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    assert row is not None
    return int(row["n"])


class ServerThread:
    """Hypercorn serving one app in a thread with its own event loop."""

    def __init__(self, app: Starlette, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"api-server-{port}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.graceful_timeout = 2.0
        await serve(self.app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

    def start(self) -> None:
        self._thread.start()

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the API server thread did not stop"
        if self.error is not None:
            raise self.error


@dataclasses.dataclass
class LiveApi:
    url: str
    settings: Settings
    database_url: str

    def client(
        self, key: str | None = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Client:
        merged = ({"Authorization": f"Bearer {key}"} if key else {}) | (headers or {})
        return httpx.Client(base_url=self.url, headers=merged, timeout=20.0)

    def key(self, role: str = "admin", project: str = "alpha") -> str:
        with postgres.connect(self.database_url) as conn:
            token = keys.create(conn, project_id=project, role=role)
        return token

    def revoke(self, token: str) -> None:
        with postgres.connect(self.database_url) as conn:
            assert keys.revoke(conn, token.split("_")[1])


@contextlib.contextmanager
def running_api(settings: Settings, **app_options: Any) -> Iterator[LiveApi]:
    port = free_port()
    server = ServerThread(create_app(settings, **app_options), port)
    server.start()
    try:
        yield LiveApi(url=server.url, settings=settings, database_url=settings.database_url)
    finally:
        server.stop()


def api_settings(database_url: str, redis_url: str, tmp_path: Path, **extra: Any) -> Settings:
    """Rate limits off unless a test asks for them: races and bursts of one key are what
    many tests are made of (tests/integration/test_quotas.py tests the limits)."""
    unlimited = {"rate_reads_per_second": 0.0, "rate_writes_per_second": 0.0}
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        home=tmp_path / "home",
        kubeconfig=str(tmp_path / "no-cluster.kubeconfig"),
        queue_name="dbaas-test-operations",
        **(unlimited | extra),
    )


@pytest.fixture(name="offline_api")
def offline_api_fixture(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[LiveApi]:
    """The API with PostgreSQL and Redis but no reachable cluster (kubeconfig missing)."""
    with running_api(api_settings(database_url, redis_url, tmp_path), auth_ttl=0) as api:
        yield api


@pytest.fixture(name="api")
def api_fixture(database_url: str, redis_url: str, tmp_path: Path, sim: Any) -> Iterator[LiveApi]:
    """The API over the simulated cluster (its catalog, its Secrets)."""
    settings = dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path),
        kubeconfig=str(sim.kubeconfig),
        backup_storage=BACKUP_STORAGE,
    )
    with running_api(settings, auth_ttl=0) as live:
        yield live


# -- request helpers -------------------------------------------------------------------------

PROBLEM_BASE = "https://dbaas.dev/problems/"


BACKUP_STORAGE = "dbaas-backup/local"
"""The BackupStorage the test API is configured with (backup POSTs record; nothing runs)."""


def spec(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid create body (a standalone Postgres from the simulated catalog)."""
    return {"name": name, "engine": "postgres", "version": "16.13", "storage": "10Gi"} | overrides


def create(client: httpx.Client, name: str, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/databases", json=spec(name, **overrides))
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEM_BASE + slug
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == response.request.url.path
    return problem


# -- a TCP forwarder we can cut, to take PostgreSQL "down" and bring it back ------------------


class Cuttable:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new
    ones until `restore()`. Stands in for a PostgreSQL restart without touching the server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept, listener, name=f"cuttable-accept-{self.port}")

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _spawn(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._open |= {client, upstream}
            self._spawn(self._pump, client, upstream, name=f"cuttable-pump-{self.port}")

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return


@pytest.fixture(name="cuttable_postgres")
def cuttable_postgres_fixture(database_url: str) -> Iterator[tuple[Cuttable, str]]:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    proxy = Cuttable((str(info.get("host", "127.0.0.1")), int(info.get("port", 5432))))
    proxy.restore()
    url = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    try:
        yield proxy, url
    finally:
        proxy.cut()


# -- the process-level endpoints -----------------------------------------------------------


SUPERVISOR_CONF = """
[unix_http_server]
file={home}/s.sock
[supervisord]
nodaemon=true
logfile=/dev/null
logfile_maxbytes=0
pidfile={home}/s.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{home}/s.sock
[program:api]
command=sleep 600
startsecs=0
[program:worker]
command=sleep 600
startsecs=0
numprocs=2
process_name=worker-%(process_num)d
"""


@pytest.fixture(name="supervisord")
def supervisord_fixture() -> Iterator[Path]:
    """A real supervisord with stand-in programs, api and two worker processes (numprocs, as
    supervisord.conf names them: worker:worker-0, worker:worker-1); yields its config file."""
    home = Path(tempfile.mkdtemp(prefix="sv", dir="/tmp"))  # unix socket paths are short
    config = home / "supervisord.conf"
    config.write_text(SUPERVISOR_CONF.format(home=home))
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / "supervisord"), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _all_running(home / "s.sock"))
        yield config
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def _all_running(socket_path: Path) -> bool:
    try:
        found = states.program_states(socket_path)
    except states.SupervisorUnavailable:
        return False
    return set(found.values()) == {"RUNNING"} and len(found) == 3

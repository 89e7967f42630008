"""The whole control plane for end-to-end tests, no test here.

Real PostgreSQL and Redis, the simulated cluster, the API (the real app on a real Hypercorn
server in a thread), and the other programs as the subprocesses supervisord would run:
`dbaas worker`, `dbaas status-sync` and `dbaas drift` (one or more instances each). Clients
talk HTTP to the API only; the tests steer the cluster through the sim's admin endpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services import devrun
from services.domain import quantities
from tests.api_harness import LiveApi, api_settings, running_api
from tests.fixtures_sim import SimCluster

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
COMPARED = ("version", "replicas", "storage", "deletion_policy")


class Program:
    """One `dbaas <command>` subprocess with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.killed = False
        self.log_path = log
        self._sink = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *argv],
            cwd=REPO,
            env=env | {"DBAAS_PROGRAM": name},
            stdout=self._sink,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the exit code of a warm shutdown (None: it had to be killed)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self._sink.close()
        return 0 if self.killed else code

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown at all."""
        self.killed = True
        self.process.kill()
        self.process.wait()


@dataclasses.dataclass
class Plane:
    api: LiveApi
    key: str
    sim: SimCluster
    programs: dict[str, Program]
    env: dict[str, str]
    home: Path

    def client(self) -> httpx.Client:
        return self.api.client(self.key)

    def start(self, name: str, command: str, *extra: str) -> Program:
        program = Program(name, [command, *extra], self.env, self.home / f"{name}.log")
        self.programs[name] = program
        return program

    def leaders(self, command: str) -> list[str]:
        """Instances of `command` whose log says they lead (and are still alive)."""
        return [
            name
            for name, program in self.programs.items()
            if name.startswith(command)
            and program.alive
            and f"{command}: became the leader" in program.log()
        ]

    # -- the API -------------------------------------------------------------------------

    def create(self, name: str, **overrides: Any) -> dict[str, Any]:
        body = {"name": name, "engine": "postgres", "version": "16.4", "replicas": 2}
        body |= {"storage": "10Gi"} | overrides
        with self.client() as client:
            response = client.post("/v1/databases", json=body)
        assert response.status_code == 202, response.text
        created: dict[str, Any] = response.json()
        return created

    def patch(self, database_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self.client() as client:
            response = client.patch(f"/v1/databases/{database_id}", json=body)
        assert response.status_code == 202, response.text
        operations: list[dict[str, Any]] = response.json()["operations"]
        return operations

    def post(self, path: str) -> dict[str, Any]:
        with self.client() as client:
            response = client.request("POST" if "restart" in path else "DELETE", path)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def get(self, path: str) -> dict[str, Any] | None:
        with self.client() as client:
            response = client.get(path)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def database(self, database_id: str) -> dict[str, Any]:
        found = self.get(f"/v1/databases/{database_id}")
        assert found is not None
        return found

    def events(self, database_id: str) -> list[dict[str, Any]]:
        found = self.get(f"/v1/databases/{database_id}/events")
        assert found is not None
        items: list[dict[str, Any]] = found["items"]
        return items

    def operations(self, database_id: str) -> list[dict[str, Any]]:
        found = self.get(f"/v1/databases/{database_id}/operations")
        assert found is not None
        items: list[dict[str, Any]] = found["items"]
        return items

    def settled(self, operation_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            op = self.get(f"/v1/operations/{operation_id}")
            return op if op and op["state"] in ("succeeded", "failed", "cancelled") else None

        return wait_for(done, timeout=timeout, what=f"operation {operation_id} to end")

    def converged(self, database_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until the database is ready, caught up, and observed equals desired."""

        def check() -> dict[str, Any] | None:
            db = self.database(database_id)
            status = db["status"]
            if db["state"] != "ready" or status["observed_generation"] != db["generation"]:
                return None
            return db if in_sync(db) else None

        return wait_for(check, timeout=timeout, what=f"database {database_id} to converge")


def in_sync(db: dict[str, Any]) -> bool:
    observed = db["status"]["observed"] or {}
    for field in COMPARED:
        want, have = db[field], observed.get(field)
        if field == "storage":
            if have is None or not quantities.same_quantity(want, have):
                return False
        elif want != have:
            return False
    for field in ("cpu", "memory"):
        want = db["resources"][field]
        have = observed.get(field)
        if want is not None and (have is None or not quantities.same_quantity(want, have)):
            return False
    return True


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def control_plane(
    database_url: str,
    redis_url: str,
    sim: SimCluster,
    tmp_path: Path,
    *,
    status_syncs: int = 1,
    drifts: int = 1,
    backups: bool = False,
) -> Iterator[Plane]:
    """`backups`: a BackupStorage in the sim and `DBAAS_BACKUP_STORAGE` for every program,
    as `make run` has them."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = api_settings(database_url, redis_url, tmp_path)
    settings = dataclasses.replace(
        settings, kubeconfig=str(sim.kubeconfig), queue_name=f"e2e-{uuid.uuid4().hex[:8]}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env |= {
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "DBAAS_KUBECONFIG": str(sim.kubeconfig),
        "DBAAS_QUEUE_NAME": settings.queue_name,
        "DBAAS_HOME": str(home),
        "DBAAS_DRIFT_INTERVAL_SECONDS": "1",
        "DBAAS_PENDING_REDISPATCH_SECONDS": "5",
        "DBAAS_OPSREQUEST_RETENTION_SECONDS": "2",
        "DBAAS_RESYNC_INTERVAL_SECONDS": "60",
        "DBAAS_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    if backups:
        env["DBAAS_BACKUP_STORAGE"] = devrun.create_backup_storage(sim.kubeconfig)
        settings = dataclasses.replace(settings, backup_storage=env["DBAAS_BACKUP_STORAGE"])
    with running_api(settings, auth_ttl=0) as api:
        plane = Plane(api, api.key(project="acme"), sim, {}, env, home)
        reconciler_flags = ("--watch-timeout", "2", "--standby-seconds", "0.5")
        try:
            plane.start("worker", "worker")
            for index in range(status_syncs):
                plane.start(f"status-sync-{index}", "status-sync", *reconciler_flags)
            for index in range(drifts):
                plane.start(f"drift-{index}", "drift", *reconciler_flags)
            yield plane
        finally:
            codes = {name: program.stop() for name, program in plane.programs.items()}
            unclean = {name: code for name, code in codes.items() if code != 0}
            assert not unclean, f"programs exited uncleanly: {unclean}\n" + "\n".join(
                f"--- {n}\n{plane.programs[n].log()[-3000:]}" for n in unclean
            )

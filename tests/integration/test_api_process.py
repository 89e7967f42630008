"""The API process: health, readiness and outages of PostgreSQL and Redis, through the
harness of tests/api_harness.py (which these tests also check)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.api import backends
from services.store import migrating
from services.supervision import heartbeats
from tests.api_harness import (
    Cuttable,
    LiveApi,
    api_settings,
    free_port,
    running_api,
    wait_until,
)


def test_healthz_answers_without_a_key(offline_api: LiveApi) -> None:
    with offline_api.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_postgres_and_redis_and_no_supervisor(offline_api: LiveApi) -> None:
    with offline_api.client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["postgres"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["programs"]["status"] == "unsupervised"


def test_readyz_is_503_naming_redis_when_redis_is_down(database_url: str, tmp_path: Path) -> None:
    settings = api_settings(database_url, f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    with running_api(settings) as live, live.client() as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    problem = response.json()
    assert problem["type"] == "https://dbaas.dev/problems/not-ready"
    assert problem["checks"]["redis"]["status"] == "failed"
    assert problem["checks"]["postgres"]["status"] == "ok"


def test_readyz_is_503_while_the_schema_is_behind_the_code(
    empty_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = api_settings(empty_database_url, redis_url, tmp_path)
    with running_api(settings) as live, live.client() as client:
        behind = client.get("/readyz")
        migrating.apply(empty_database_url)
        current = client.get("/readyz")
    assert behind.status_code == 503
    checks = behind.json()["checks"]
    assert checks["schema"] == {
        "status": "failed",
        "detail": f"migrations not applied: {', '.join(migrating.names())}",
    }
    assert checks["postgres"]["status"] == "ok"
    assert current.status_code == 200, current.text
    assert current.json()["checks"]["schema"] == {"status": "ok"}


BOTH_WORKERS_RUNNING = dict.fromkeys(("api", "worker:worker-0", "worker:worker-1"), "RUNNING")


def test_readyz_requires_every_supervised_program_to_be_running(
    supervisord: Path, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    socket_path = supervisord.parent / "s.sock"
    settings = api_settings(database_url, redis_url, tmp_path, supervisor_socket=socket_path)
    bin_dir = Path(sys.executable).parent
    with running_api(settings) as live, live.client() as client:
        ready = client.get("/readyz")
        subprocess.run(
            [str(bin_dir / "supervisorctl"), "-c", str(supervisord), "stop", "worker:worker-1"],
            check=True,
            capture_output=True,
        )
        not_ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["programs"] == {"status": "ok", "programs": BOTH_WORKERS_RUNNING}
    assert not_ready.status_code == 503
    programs = not_ready.json()["checks"]["programs"]
    assert programs["status"] == "failed"
    assert programs["detail"] == "not running: worker:worker-1 STOPPED"


def test_readyz_reports_a_running_program_whose_heartbeat_stopped(
    supervisord: Path, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    socket_path = supervisord.parent / "s.sock"
    settings = api_settings(database_url, redis_url, tmp_path, supervisor_socket=socket_path)
    now = time.time()
    with running_api(settings) as live, live.client() as client:
        # each worker process beats in a file of its own (DBAAS_PROGRAM=worker-<n>)
        heartbeats.write(settings.home, heartbeats.Beat("worker-0", 1, now))
        heartbeats.write(settings.home, heartbeats.Beat("worker-1", 2, now))
        beating = client.get("/readyz")
        stale = now - settings.heartbeat_timeout_seconds - 20
        heartbeats.write(settings.home, heartbeats.Beat("worker-1", 2, stale))
        frozen = client.get("/readyz")
    assert beating.status_code == 200, beating.text
    assert frozen.status_code == 503
    programs = frozen.json()["checks"]["programs"]
    assert programs["status"] == "failed"
    assert programs["detail"].startswith("not progressing: worker:worker-1 (heartbeat ")
    assert programs["programs"] == BOTH_WORKERS_RUNNING


def test_postgres_outage_is_a_503_and_the_api_recovers_when_it_returns(
    cuttable_postgres: tuple[Cuttable, str], redis_url: str, tmp_path: Path
) -> None:
    proxy, url = cuttable_postgres
    with running_api(api_settings(url, redis_url, tmp_path)) as live:
        token = live.key(role="viewer")
        with live.client(token) as client:
            assert client.get("/v1/databases").status_code == 200
            proxy.cut()
            down = client.get("/v1/databases")
            not_ready = client.get("/readyz")
            alive = client.get("/healthz")
            proxy.restore()
            wait_until(lambda: client.get("/v1/databases").status_code == 200, timeout=20)
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert down.headers["retry-after"] == "5"
    assert down.json()["type"] == "https://dbaas.dev/problems/store-unavailable"
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["postgres"]["status"] == "failed"
    assert alive.status_code == 200


def test_requests_during_a_postgres_outage_give_up_after_the_short_checkout_timeout(
    cuttable_postgres: tuple[Cuttable, str],
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each request of an outage waits for a connection only `CHECKOUT_TIMEOUT_SECONDS`
    (not the pool's 5 s) before its 503; a burst of reads never meets that timeout."""
    caplog.set_level(logging.WARNING, logger="services.api.problems")
    proxy, url = cuttable_postgres
    with running_api(api_settings(url, redis_url, tmp_path)) as live:
        token = live.key(role="viewer")
        with live.client(token) as client:
            burst = [client.get("/v1/databases", params={"limit": 100}) for _ in range(50)]
            proxy.cut()
            # The pooled connection dies on its first use; the next request finds no
            # connection and gives up waiting for one.
            down = [client.get("/v1/databases") for _ in range(3)]
            proxy.restore()
            wait_until(lambda: client.get("/v1/databases").status_code == 200, timeout=20)
    assert {response.status_code for response in burst} == {200}
    assert [response.status_code for response in down] == [503, 503, 503]
    gave_up = [
        r.getMessage() for r in caplog.records if "couldn't get a connection" in r.getMessage()
    ]
    assert gave_up, [r.getMessage() for r in caplog.records]
    expected = f"couldn't get a connection after {backends.CHECKOUT_TIMEOUT_SECONDS:.2f} sec"
    assert all(expected in message for message in gave_up), gave_up

"""No secret in any log record of the in-process code paths (pytest's caplog, at DEBUG).

The pod test (test_pod_logs.py) reads what the processes print; this one sees every log
record the API, the worker's job and both reconcilers emit in this process, tracebacks
included, while they run with password-carrying URLs and meet: forged and revoked keys,
credential reads, the cluster failing (500s, 403s, 503s on lists), PostgreSQL cut away
mid-run, and Redis unreachable. The records' text, their arguments and their exception
text are searched for every key, password and URL.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from pathlib import Path

import psycopg
import pytest
from kubernetes import client as k8s

from services.reconcilers import wiring
from services.settings import Settings
from services.worker import context, jobs
from tests.api_harness import (
    Cuttable,
    api_settings,
    create,
    free_port,
    running_api,
    spec,
)
from tests.fixtures_sim import SimCluster
from tests.security.secrets import (
    DB_PASSWORD,
    KUBE_TOKEN,
    REDIS_PASSWORD,
    Secrets,
    postgres_url_with_password,
    redis_url_with_password,
)

SECRET_PASSWORD = "Caplog-Secret-Pa55-0b7e"


CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP client, not the code under test


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of the code under test as a handler could render it: message, raw
    arguments, traceback."""
    parts = []
    for record in caplog.records:
        if record.name.startswith(CLIENT_LOGGERS):
            continue
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.msg))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@pytest.fixture(name="secure_settings")
def secure_settings_fixture(
    database_url: str, redis_url: str, tmp_path: Path, sim: SimCluster
) -> tuple[Settings, Secrets]:
    pg_url = postgres_url_with_password(database_url)
    redis_with_password = redis_url_with_password(redis_url)
    secrets = Secrets()
    secrets.add("the PostgreSQL password", DB_PASSWORD)
    if redis_with_password is not None:
        secrets.add("the Redis password", REDIS_PASSWORD)
    secrets.add("the cluster's bearer token", KUBE_TOKEN)
    secrets.add("the Secret's password", SECRET_PASSWORD)
    settings = dataclasses.replace(
        api_settings(pg_url, redis_with_password or redis_url, tmp_path),
        kubeconfig=str(sim.kubeconfig),
        queue_name=f"caplog-{uuid.uuid4().hex[:8]}",
    )
    return settings, secrets


def test_the_api_logs_no_secret_on_any_path(
    secure_settings: tuple[Settings, Secrets], sim: SimCluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings, secrets = secure_settings
    caplog.set_level(logging.DEBUG)
    with running_api(settings, auth_ttl=0, catalog_ttl=0) as live:
        admin, viewer = live.key(), live.key(role="viewer")
        secrets.add_key("the admin key", admin)
        secrets.add_key("the viewer key", viewer)
        live.revoke(viewer)
        forged = f"dbaas_{admin.split('_')[1]}_{'Q' * 32}"
        secrets.add("a forged key", forged)
        for token in (viewer, forged, admin + "x"):
            with live.client(token) as client:
                assert client.get("/v1/databases").status_code == 401
        with live.client(admin) as client:
            database = create(client, "orders")
            path = f"/v1/databases/{database['id']}"
            client.post("/v1/databases", json=spec(admin))  # the key where a name goes
            client.get("/v1/databases", params={"name": admin})
            assert client.get(f"{path}/credentials").status_code == 409  # no Secret yet
            sim.create_namespace("dbaas-alpha")
            k8s.CoreV1Api(sim.api_client()).create_namespaced_secret(
                "dbaas-alpha",
                {
                    "metadata": {"name": "orders-auth"},
                    "stringData": {"username": "postgres", "password": SECRET_PASSWORD},
                },
            )
            assert client.get(f"{path}/credentials").json()["password"] == SECRET_PASSWORD
            sim.set_faults(
                errors=[
                    {"codes": [500], "verbs": ["get"], "resources": ["secrets"]},
                    {"codes": [503], "verbs": ["list"], "resources": ["postgresversions"]},
                ]
            )
            assert client.get(f"{path}/credentials").status_code == 503
            assert client.get("/v1/engines").status_code == 503
            assert client.post("/v1/databases", json=spec("billing")).status_code == 503
            sim.clear_faults()
    assert any(r.levelno >= logging.WARNING for r in caplog.records)
    assert secrets.found_in(logged_text(caplog)) == []


def test_the_api_logs_no_secret_while_postgres_and_redis_are_down(
    secure_settings: tuple[Settings, Secrets], caplog: pytest.LogCaptureFixture
) -> None:
    settings, secrets = secure_settings
    info = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    proxy = Cuttable((str(info["host"]), int(info["port"])))
    proxy.restore()
    through_proxy = settings.database_url.replace(f":{info['port']}/", f":{proxy.port}/")
    dead_redis = f"redis://default:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    secrets.add("the proxied PostgreSQL URL", through_proxy)
    secrets.add("the dead Redis URL", dead_redis)
    secrets.add("the Redis password", REDIS_PASSWORD)
    caplog.set_level(logging.DEBUG)
    outage = dataclasses.replace(settings, database_url=through_proxy, redis_url=dead_redis)
    try:
        with running_api(outage, auth_ttl=0) as live:
            token = live.key()
            secrets.add_key("the admin key", token)
            with live.client(token) as client:
                created = client.post("/v1/databases", json=spec("orders"))  # enqueue fails
                assert created.status_code == 202
                proxy.cut()
                assert client.get("/v1/databases").status_code == 503
                assert client.get("/readyz").status_code == 503
                proxy.restore()
    finally:
        proxy.cut()
    text = logged_text(caplog)
    assert "enqueue failed" in text
    assert "PostgreSQL unavailable" in text
    assert secrets.found_in(text) == []


def test_the_worker_job_logs_no_secret_when_the_cluster_fails(
    secure_settings: tuple[Settings, Secrets], sim: SimCluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings, secrets = secure_settings
    with running_api(settings, auth_ttl=0) as live, live.client(live.key()) as client:
        secrets.add_key("the admin key", str(client.headers["authorization"]).split()[1])
        transient = create(client, "orders")["operations"][0]["id"]
        permanent = create(client, "billing")["operations"][0]["id"]
    caplog.set_level(logging.DEBUG)
    worker = dataclasses.replace(
        context.build(settings, worker_name="caplog-worker"), sleep=lambda seconds: None
    )
    try:
        sim.inject_errors([500, 503], verbs=["create"], resources=["postgreses"])
        first = jobs.execute(worker, transient)
        sim.inject_errors([403], verbs=["create"], resources=["postgreses"])
        second = jobs.execute(worker, permanent)
        sim.clear_faults()
        third = jobs.execute(worker, transient)
    finally:
        worker.close()
    outcomes = f"{first}\n{second}\n{third}"
    assert "released after 5 transient errors" in first
    assert "failed (kubernetes-forbidden" in second
    assert "waiting" in third
    assert secrets.found_in(logged_text(caplog) + outcomes) == []


@pytest.mark.parametrize("program", ["status-sync", "drift"])
def test_a_reconciler_cycle_logs_no_secret_when_the_cluster_or_postgres_fails(
    secure_settings: tuple[Settings, Secrets],
    sim: SimCluster,
    caplog: pytest.LogCaptureFixture,
    program: str,
) -> None:
    settings, secrets = secure_settings
    caplog.set_level(logging.DEBUG)
    outcomes = []
    sim.inject_errors([503], verbs=["list", "watch"], count=16)  # every list fails once or twice
    process = wiring.build(program, settings, watch_timeout=1, standby_seconds=0.1)
    try:
        outcomes.append(process.daemon.run(once=True))
    finally:
        process.close()
    sim.clear_faults()
    dead = settings.database_url.rsplit(":", 1)[0].rsplit(":", 1)[0]
    unreachable = dataclasses.replace(
        settings, database_url=f"{dead}:{DB_PASSWORD}@127.0.0.1:{free_port()}/nowhere"
    )
    process = wiring.build(program, unreachable, watch_timeout=1, standby_seconds=0.1)
    try:
        outcomes.append(process.daemon.run(once=True))
    finally:
        process.close()
    text = logged_text(caplog) + "\n".join(outcomes)
    assert any(r.levelno >= logging.WARNING for r in caplog.records), outcomes
    assert secrets.found_in(text) == []

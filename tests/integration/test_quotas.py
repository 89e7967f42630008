"""Project quotas and per-key rate limits over real HTTP (sim catalog, PostgreSQL, Redis).

Quotas are checked in the change's own transaction under the project's lock, so the race
here (twenty creates released together against a limit of five) must admit exactly five.
Rate limits are token buckets in Redis: two API servers share one key's bucket.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.clients import postgres
from services.settings import Settings
from tests.api_harness import (
    LiveApi,
    api_settings,
    assert_problem,
    create,
    running_api,
    spec,
)
from tests.fixtures_sim import SimCluster
from tests.integration.test_api_concurrency import race

SMALL = {"cpu": "500m", "memory": "1Gi"}


@pytest.fixture(name="settings")
def settings_fixture(
    database_url: str, redis_url: str, tmp_path: Path, sim: SimCluster
) -> Settings:
    return dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path), kubeconfig=str(sim.kubeconfig)
    )


@contextlib.contextmanager
def live(settings: Settings, **changes: Any) -> Iterator[LiveApi]:
    with running_api(dataclasses.replace(settings, **changes), auth_ttl=0) as api:
        yield api


def test_a_create_past_the_database_count_is_403_naming_quota_limit_and_use(
    settings: Settings,
) -> None:
    with live(settings, quota_databases=2) as api, api.client(api.key()) as client:
        create(client, "one")
        create(client, "two")
        refused = client.post("/v1/databases", json=spec("three"))
        quota = client.get("/v1/quota").json()
    problem = assert_problem(refused, 403, "quota-exceeded")
    assert (problem["quota"], problem["limit"], problem["used"], problem["requested"]) == (
        "databases",
        2,
        2,
        3,
    )
    assert quota["project"] == "alpha"
    assert quota["quotas"]["databases"] == {"limit": 2, "used": 2}


def test_storage_cpu_and_memory_count_replicas_times_size_on_create_and_patch(
    settings: Settings,
) -> None:
    limits = {"quota_storage": "25Gi", "quota_cpu": "2", "quota_memory": "4Gi"}
    with live(settings, **limits) as api, api.client(api.key()) as client:
        first = create(client, "a", storage="10Gi", resources=SMALL)
        create(client, "b", storage="10Gi", resources=SMALL)
        too_much_storage = client.post("/v1/databases", json=spec("c", storage="10Gi"))
        path = f"/v1/databases/{first['id']}"
        too_much_cpu = client.patch(path, json={"resources": {"cpu": "2"}})
        shrink = client.patch(path, json={"resources": {"memory": "512Mi"}})
        quota = client.get("/v1/quota").json()["quotas"]
    problem = assert_problem(too_much_storage, 403, "quota-exceeded")
    assert (problem["quota"], problem["limit"], problem["used"], problem["requested"]) == (
        "storage",
        "25Gi",
        "20Gi",
        "30Gi",
    )
    problem = assert_problem(too_much_cpu, 403, "quota-exceeded")
    assert (problem["quota"], problem["used"], problem["requested"]) == ("cpu", "1", "2500m")
    assert shrink.status_code == 202, shrink.text
    assert quota["storage"] == {"limit": "25Gi", "used": "20Gi"}
    assert quota["memory"] == {"limit": "4Gi", "used": "1536Mi"}


def test_concurrent_creates_cannot_pass_the_limit_together(settings: Settings) -> None:
    with live(settings, quota_databases=5) as api:
        key = api.key()
        clients = [api.client(key) for _ in range(20)]
        try:
            answers = race(20, lambda i: clients[i].post("/v1/databases", json=spec(f"db{i}")))
        finally:
            for client in clients:
                client.close()
        with api.client(key) as client:
            listed = client.get("/v1/databases", params={"limit": 100}).json()["items"]
    assert Counter(answer.status_code for answer in answers) == {202: 5, 403: 15}
    assert len(listed) == 5


def test_operations_queued_on_one_database_are_bounded(settings: Settings) -> None:
    with live(settings, quota_waiting_operations=3) as api, api.client(api.key()) as client:
        database = create(client, "busy")  # its create is the first of three
        restarts = [client.post(f"/v1/databases/{database['id']}/restart") for _ in range(3)]
    assert [r.status_code for r in restarts] == [202, 202, 403]
    problem = assert_problem(restarts[2], 403, "quota-exceeded")
    assert (problem["quota"], problem["limit"], problem["used"]) == ("waiting_operations", 3, 3)


def test_a_project_override_set_by_the_cli_replaces_the_default(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, "DBAAS_DATABASE_URL": settings.database_url, "DBAAS_QUOTA_DATABASES": "9"}
    with live(settings, quota_databases=9) as api, api.client(api.key()) as client:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "quota", "set", "--project", "alpha",
             "--databases", "1", "--storage", "0"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        create(client, "only")
        refused = client.post("/v1/databases", json=spec("second"))
        quota = client.get("/v1/quota").json()["quotas"]
        bad = subprocess.run(
            [sys.executable, "-m", "services.cli", "quota", "set", "--project", "alpha",
             "--cpu", "lots"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["quotas"]["databases"]["limit"] == 1
    assert_problem(refused, 403, "quota-exceeded")
    assert quota["databases"]["limit"] == 1
    assert quota["storage"]["limit"] is None
    assert bad.returncode == 2 and "--cpu" in bad.stderr and "Traceback" not in bad.stderr


def test_a_platform_admin_overrides_a_project_quota_through_the_api(settings: Settings) -> None:
    with live(settings, quota_databases=9) as api:
        platform, alpha = api.key(project="platform"), api.key()
        with api.client(platform) as admin, api.client(alpha) as developer:
            changed = admin.patch(
                "/v1/projects/alpha/quota", json={"databases": 1, "storage": "2Ti", "cpu": "0"}
            )
            read = admin.get("/v1/projects/alpha/quota")
            create(developer, "only")
            refused = developer.post("/v1/databases", json=spec("second"))
            own = developer.get("/v1/quota").json()["quotas"]
            back = admin.patch("/v1/projects/alpha/quota", json={"databases": None})
            create(developer, "second")
        with postgres.connect(settings.database_url) as conn:
            audited = conn.execute(
                "SELECT actor, details FROM events WHERE project_id = 'alpha'"
                " AND kind = 'quota.changed' ORDER BY id"
            ).fetchall()
    assert changed.status_code == 200, changed.text
    limits = changed.json()["quotas"]
    assert changed.json()["project"] == "alpha"
    assert (limits["databases"]["limit"], limits["storage"]["limit"]) == (1, "2Ti")
    assert limits["cpu"]["limit"] is None  # 0: no limit
    assert read.json() == changed.json()
    assert_problem(refused, 403, "quota-exceeded")
    assert own["databases"]["limit"] == 1  # the project sees its override
    assert back.json()["quotas"]["databases"]["limit"] == 9  # null: the default again
    assert [row["details"]["set"] for row in audited] == [
        {"databases": 1, "storage": "2Ti", "cpu": "0"},
        {"databases": None},
    ]
    assert all(row["actor"].startswith("key:") for row in audited)


def test_only_platform_admins_manage_quotas_and_bad_overrides_are_422(settings: Settings) -> None:
    with live(settings) as api:
        keys = {
            "project admin": api.key(),
            "platform operator": api.key(role="operator", project="platform"),
            "platform admin": api.key(project="platform"),
        }
        answers = {}
        for who, key in keys.items():
            with api.client(key) as client:
                answers[who] = (
                    client.get("/v1/projects/alpha/quota"),
                    client.patch("/v1/projects/alpha/quota", json={"databases": 500}),
                )
        with api.client(keys["platform admin"]) as admin:
            invalid = admin.patch(
                "/v1/projects/alpha/quota",
                json={"databases": -1, "storage": "lots", "memory": 5, "bogus": 1},
            )
            empty = admin.patch("/v1/projects/alpha/quota", json={})
            listed = admin.patch("/v1/projects/alpha/quota", json=[1])
            bad_project = admin.patch("/v1/projects/Not_A_Project/quota", json={"databases": 1})
            after = admin.get("/v1/projects/alpha/quota").json()["quotas"]
    for who in ("project admin", "platform operator"):
        read, change = answers[who]
        assert_problem(read, 403, "forbidden")
        assert_problem(change, 403, "forbidden")
    assert "platform project" in answers["project admin"][1].json()["detail"]
    assert [r.status_code for r in answers["platform admin"]] == [200, 200]
    problem = assert_problem(invalid, 422, "validation-failed")
    assert {e["field"]: e["code"] for e in problem["errors"]} == {
        "databases": "out_of_range",
        "storage": "invalid_quantity",
        "memory": "invalid_type",
        "bogus": "unknown_field",
    }
    assert_problem(empty, 422, "validation-failed")
    assert_problem(listed, 422, "validation-failed")
    assert_problem(bad_project, 422, "validation-failed")
    assert after["databases"]["limit"] == 500  # the refused changes left nothing behind


def test_a_key_past_its_write_rate_gets_429_on_every_api_process_reads_apart(
    settings: Settings,
) -> None:
    limited = {
        "rate_writes_per_second": 0.01,
        "rate_write_burst": 2,
        "rate_reads_per_second": 100.0,
        "rate_read_burst": 100,
    }
    with live(settings, **limited) as first, live(settings, **limited) as second:
        key = first.key()
        other_key = first.key()
        with first.client(key) as a, second.client(key) as b, second.client(other_key) as c:
            writes = [
                a.post("/v1/databases", json=spec("w1")),
                b.post("/v1/databases", json=spec("w2")),
                b.post("/v1/databases", json=spec("w3")),
                a.post("/v1/databases", json=spec("w4")),
            ]
            read = b.get("/v1/databases")
            other = c.post("/v1/databases", json=spec("w5"))
    assert [w.status_code for w in writes] == [202, 202, 429, 429]
    problem = assert_problem(writes[2], 429, "rate-limited")
    assert problem["kind"] == "write" and problem["burst"] == 2
    assert int(writes[2].headers["Retry-After"]) >= 1
    assert read.status_code == 200
    assert other.status_code == 202

"""The pod's dbaas_* series on /metrics hold what the database and the heartbeats hold.

Every value is compared with a query of the same database made around the scrape, or with
the heartbeat files written here as the programs write them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.clients import postgres
from services.store import tallies
from services.supervision import heartbeats
from tests.api_harness import LiveApi

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(api: LiveApi) -> Samples:
    with api.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def create(api: LiveApi, key: str, name: str, engine: str, version: str) -> None:
    with api.client(key) as client:
        response = client.post(
            "/v1/databases",
            json={"name": name, "engine": engine, "version": version, "storage": "1Gi"},
        )
    assert response.status_code == 202, response.text


def query(api: LiveApi, sql: str) -> list[dict[str, Any]]:
    with postgres.connect(api.database_url) as conn:
        return list(conn.execute(sql).fetchall())


def test_operation_and_database_series_equal_the_database(api: LiveApi) -> None:
    key = api.key()
    for name, engine, version in [
        ("orders", "postgres", "16.13"),
        ("billing", "postgres", "16.13"),
        ("cache", "redis", "7.4.6"),
        ("docs", "mongodb", "7.0.28"),
    ]:
        create(api, key, name, engine, version)
    # two finished, as the worker and status-sync would leave them: 3 s and 45 s long
    query(
        api,
        "UPDATE operations SET state = 'succeeded', finished_at = created_at + interval '3 s'"
        " WHERE database_id = (SELECT id FROM databases WHERE name = 'orders') RETURNING id",
    )
    query(
        api,
        "UPDATE operations SET state = 'failed', finished_at = created_at + interval '45 s'"
        " WHERE database_id = (SELECT id FROM databases WHERE name = 'cache') RETURNING id",
    )
    query(api, "UPDATE databases SET state = 'ready' WHERE name = 'orders' RETURNING id")
    oldest_before = query(
        api,
        "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM operations"
        " WHERE state IN ('pending', 'running', 'waiting')",
    )[0]["age"]
    samples = scrape(api)
    oldest_after = query(
        api,
        "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM operations"
        " WHERE state IN ('pending', 'running', 'waiting')",
    )[0]["age"]

    by_state = query(api, "SELECT type, state, count(*) AS n FROM operations GROUP BY 1, 2")
    assert samples["dbaas_operations"] == {
        (("state", r["state"]), ("type", r["type"])): float(r["n"]) for r in by_state
    }
    assert samples["dbaas_operations_completed_total"] == {
        (("outcome", "succeeded"), ("type", "create")): 1.0,
        (("outcome", "failed"), ("type", "create")): 1.0,
    }
    pending = query(api, "SELECT count(*) AS n FROM operations WHERE state = 'pending'")
    assert samples["dbaas_queue_depth"] == {(): float(pending[0]["n"])} == {(): 2.0}
    (oldest,) = samples["dbaas_oldest_waiting_operation_age_seconds"].values()
    assert oldest_before <= oldest <= oldest_after
    databases = query(api, "SELECT engine, state, count(*) AS n FROM databases GROUP BY 1, 2")
    assert samples["dbaas_databases"] == {
        (("engine", r["engine"]), ("state", r["state"])): float(r["n"]) for r in databases
    }
    buckets = samples["dbaas_operation_duration_seconds_bucket"]
    for bound in tallies.DURATION_BUCKETS:
        expected = (bound >= 3.0) + (bound >= 45.0)
        assert buckets[(("le", repr(bound)), ("type", "create"))] == expected, bound
    assert buckets[(("le", "+Inf"), ("type", "create"))] == 2.0
    assert samples["dbaas_operation_duration_seconds_count"] == {(("type", "create"),): 2.0}
    assert samples["dbaas_operation_duration_seconds_sum"] == {(("type", "create"),): 48.0}
    assert samples["dbaas_metrics_source_up"][(("source", "postgres"),)] == 1.0


def test_leaders_successes_findings_and_kube_requests_come_from_the_heartbeats(
    api: LiveApi,
) -> None:
    home = api.settings.home
    now = time.time()
    pid = os.getpid()
    heartbeats.write(
        home,
        heartbeats.Beat(
            "status-sync",
            pid,
            now,
            leader=True,
            last_success=now - 1.5,
            counters={"kube_requests": {"list 200": 4, "watch 200": 9}},
        ),
    )
    heartbeats.write(
        home,
        heartbeats.Beat(
            "drift",
            pid,
            now,
            leader=False,
            last_success=now - 120,
            gauges={"drift_findings": {"missing": 1, "spec": 2, "orphan": 0}},
            counters={"kube_requests": {"list 200": 23, "list 503": 1}},
        ),
    )
    for process, creates in (("worker-0", 5), ("worker-1", 3)):  # DBAAS_WORKER_PROCESSES=2
        heartbeats.write(
            home,
            heartbeats.Beat(process, pid, now, counters={"kube_requests": {"create 201": creates}}),
        )
    samples = scrape(api)
    assert samples["dbaas_leader"] == {(("role", "status-sync"),): 1.0, (("role", "drift"),): 0.0}
    assert samples["dbaas_reconciler_last_success_timestamp_seconds"] == {
        (("reconciler", "status-sync"),): pytest.approx(now - 1.5),
        (("reconciler", "drift"),): pytest.approx(now - 120),
    }
    assert samples["dbaas_drift_findings"] == {
        (("kind", "missing"),): 1.0,
        (("kind", "orphan"),): 0.0,
        (("kind", "spec"),): 2.0,
    }
    assert samples["dbaas_kube_requests_total"] == {
        (("code", "200"), ("program", "status-sync"), ("verb", "list")): 4.0,
        (("code", "200"), ("program", "status-sync"), ("verb", "watch")): 9.0,
        (("code", "200"), ("program", "drift"), ("verb", "list")): 23.0,
        (("code", "503"), ("program", "drift"), ("verb", "list")): 1.0,
        (("code", "201"), ("program", "worker-0"), ("verb", "create")): 5.0,
        (("code", "201"), ("program", "worker-1"), ("verb", "create")): 3.0,
    }
    # a leader whose heartbeat is older than the timeout no longer counts as leading
    stale = now - api.settings.heartbeat_timeout_seconds - 5
    heartbeats.write(home, heartbeats.Beat("status-sync", pid, stale, leader=True))
    samples = scrape(api)
    assert samples["dbaas_leader"][(("role", "status-sync"),)] == 0.0
    age = samples["dbaas_program_heartbeat_age_seconds"][(("program", "status-sync"),)]
    assert age >= api.settings.heartbeat_timeout_seconds + 5


def test_without_supervisord_no_program_series_and_the_scrape_still_answers(
    api: LiveApi,
) -> None:
    samples = scrape(api)
    assert "dbaas_program_up" not in samples
    assert samples["dbaas_leader"] == {(("role", "status-sync"),): 0.0, (("role", "drift"),): 0.0}

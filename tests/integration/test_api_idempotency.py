"""Idempotency-Key on POST /v1/databases and /restart: replay, reuse, and concurrent retries."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.api_harness import (
    LiveApi,
    api_settings,
    assert_problem,
    create,
    running_api,
    spec,
)


def post(client: httpx.Client, path: str, key: str, body: Any = None) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def test_a_retried_create_replays_the_first_answer_and_creates_nothing(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        first = post(client, "/v1/databases", "key-1", spec("orders"))
        again = post(client, "/v1/databases", "key-1", {"storage": "10Gi", **spec("orders")})
        listed = client.get("/v1/databases").json()["items"]
        operations = client.get("/v1/operations").json()["items"]
    assert first.status_code == 202
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert len(listed) == 1
    assert len(operations) == 1


def test_the_same_key_with_another_body_is_422(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        post(client, "/v1/databases", "key-1", spec("orders"))
        response = post(client, "/v1/databases", "key-1", spec("orders", replicas=3))
        listed = client.get("/v1/databases").json()["items"]
    assert_problem(response, 422, "idempotency-key-reused")
    assert [db["replicas"] for db in listed] == [1]


def test_keys_belong_to_a_project_and_to_one_path(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = post(client, "/v1/databases", "key-1", spec("orders")).json()
        restart = post(client, f"/v1/databases/{created['id']}/restart", "key-1")
    with api.client(api.key(project="beta")) as other:
        elsewhere = post(other, "/v1/databases", "key-1", spec("orders"))
    assert_problem(restart, 422, "idempotency-key-reused")
    assert elsewhere.status_code == 202
    assert "idempotent-replayed" not in elsewhere.headers
    assert elsewhere.json()["id"] != created["id"]


def test_a_refused_request_is_not_stored_so_a_corrected_retry_succeeds(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        create(client, "orders")
        taken = post(client, "/v1/databases", "key-1", spec("orders"))
        invalid = post(client, "/v1/databases", "key-2", spec("Bad Name"))
        retried = post(client, "/v1/databases", "key-1", spec("orders"))
        corrected = post(client, "/v1/databases", "key-2", spec("good-name"))
    assert_problem(taken, 409, "name-taken")
    assert_problem(retried, 409, "name-taken")
    assert_problem(invalid, 422, "validation-failed")
    assert corrected.status_code == 202
    assert "idempotent-replayed" not in corrected.headers


def test_a_retried_restart_queues_one_restart(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}/restart"
        first = post(client, path, "restart-1")
        again = post(client, path, "restart-1")
        restarts = client.get(
            f"/v1/databases/{created['id']}/operations", params={"state": "pending"}
        ).json()["items"]
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert [op["type"] for op in restarts] == ["create", "restart"]


def test_twenty_concurrent_retries_of_one_key_create_one_database_and_answer_alike(
    api: LiveApi,
) -> None:
    token = api.key()
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(client: httpx.Client) -> None:
        barrier.wait()
        response = post(client, "/v1/databases", "same-key", spec("orders"))
        with lock:
            answers.append(response)

    with api.client(token) as client:
        threads = [
            threading.Thread(target=attempt, args=(client,), name=f"retry-{i}") for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        listed = client.get("/v1/databases").json()["items"]
    assert len(answers) == 20
    assert {response.status_code for response in answers} == {202}
    assert len({response.content for response in answers}) == 1
    replayed = [r for r in answers if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 19
    assert len(listed) == 1


def test_a_keyed_retry_is_replayed_even_while_the_catalog_is_unreadable(
    database_url: str, redis_url: str, tmp_path: Path, sim: Any
) -> None:
    settings = dataclasses.replace(
        api_settings(database_url, redis_url, tmp_path), kubeconfig=str(sim.kubeconfig)
    )
    with running_api(settings, catalog_ttl=0) as live, live.client(live.key()) as client:
        first = post(client, "/v1/databases", "key-1", spec("orders"))
        sim.inject_errors([503], resources=["postgresversions"])
        replay = post(client, "/v1/databases", "key-1", spec("orders"))
        fresh = post(client, "/v1/databases", "key-2", spec("other"))
    assert first.status_code == 202
    assert replay.status_code == 202
    assert replay.json() == first.json()
    assert_problem(fresh, 503, "catalog-unavailable")

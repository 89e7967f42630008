"""Races over real HTTP: name clashes, concurrent PATCHes, competing If-Match writers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from services.clients import postgres
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
    spec,
    wait_until,
    waiting_on_locks,
)


def race(count: int, attempt: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run `attempt(i)` in `count` threads released together; their answers, in any order."""
    barrier = threading.Barrier(count)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        response = attempt(index)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(answers) == count
    return answers


def test_fifty_concurrent_creates_of_one_name_give_exactly_one_database(api: LiveApi) -> None:
    token = api.key()
    with api.client(token) as client:  # httpx clients are thread-safe and pool connections
        answers = race(50, lambda i: client.post("/v1/databases", json=spec("orders")))
    assert Counter(r.status_code for r in answers) == {202: 1, 409: 49}
    for response in answers:
        if response.status_code == 409:
            assert_problem(response, 409, "name-taken")
    with api.client(token) as client:
        assert [db["name"] for db in client.get("/v1/databases").json()["items"]] == ["orders"]


def test_concurrent_patches_of_different_fields_both_land(api: LiveApi) -> None:
    """Both PATCHes are held behind a row lock, then released together: neither is lost."""
    token = api.key()
    with api.client(token) as client:
        created = create(client, "orders")
    path = f"/v1/databases/{created['id']}"
    bodies = [{"replicas": 3}, {"storage": "20Gi"}]
    clients = [api.client(token) for _ in bodies]
    try:
        with postgres.connect(api.database_url) as blocker:
            blocker.execute("SELECT 1 FROM databases WHERE id = %s FOR UPDATE", (created["id"],))
            answers: list[httpx.Response] = []
            threads = [
                threading.Thread(
                    target=lambda c=c, b=b: answers.append(c.patch(path, json=b)),
                    name=f"patch-{i}",
                )
                for i, (c, b) in enumerate(zip(clients, bodies, strict=True))
            ]
            for thread in threads:
                thread.start()
            wait_until(lambda: waiting_on_locks(api.database_url) == 2)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for client in clients:
            client.close()
    assert [r.status_code for r in answers] == [202, 202]
    with api.client(token) as client:
        final = client.get(path).json()
        operations = client.get(f"{path}/operations").json()["items"]
    assert final["replicas"] == 3
    assert final["storage"] == "20Gi"
    assert final["generation"] == 3
    assert sorted(op["type"] for op in operations) == ["create", "expand", "scale"]


def test_writers_racing_with_the_same_if_match_let_exactly_one_win(api: LiveApi) -> None:
    token = api.key()
    with api.client(token) as client:
        created = create(client, "orders")
        etag = client.get(f"/v1/databases/{created['id']}").headers["etag"]
    path = f"/v1/databases/{created['id']}"
    bodies: list[dict[str, Any]] = [{"replicas": n} for n in range(2, 10)]
    with api.client(token, headers={"If-Match": etag}) as client:
        answers = race(len(bodies), lambda i: client.patch(path, json=bodies[i]))
    assert Counter(r.status_code for r in answers) == {202: 1, 412: len(bodies) - 1}
    [winner] = [r for r in answers if r.status_code == 202]
    with api.client(token) as client:
        final = client.get(path).json()
    assert final["replicas"] == winner.json()["replicas"]
    assert final["generation"] == 2

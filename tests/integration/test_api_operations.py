"""/v1/operations: list (filters, pages), read, and cancel."""

from __future__ import annotations

import uuid
from typing import Any

from services.clients import postgres
from services.store import operations
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
)


def test_operations_list_oldest_first_across_databases_with_filters(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        first = create(client, "first")
        second = create(client, "second")
        client.post(f"/v1/databases/{first['id']}/restart")
        everything = client.get("/v1/operations").json()
        of_first = client.get("/v1/operations", params={"database": first["id"]}).json()
        pending = client.get("/v1/operations", params={"state": "pending"}).json()
        cancelled = client.get("/v1/operations", params={"state": "cancelled"}).json()
    assert [(op["database_id"], op["type"]) for op in everything["items"]] == [
        (first["id"], "create"),
        (second["id"], "create"),
        (first["id"], "restart"),
    ]
    assert [op["type"] for op in of_first["items"]] == ["create", "restart"]
    assert len(pending["items"]) == 3
    assert cancelled == {"items": [], "next_cursor": None}


def test_operations_page_with_a_cursor(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        for index in range(5):
            create(client, f"db{index}")
        page = client.get("/v1/operations", params={"limit": 3}).json()
        rest = client.get("/v1/operations", params={"limit": 3, "cursor": page["next_cursor"]})
        everything = client.get("/v1/operations", params={"limit": 100}).json()["items"]
    assert len(page["items"]) == 3
    assert rest.status_code == 200
    assert rest.json()["next_cursor"] is None
    assert page["items"] + rest.json()["items"] == everything


def test_an_operation_reads_with_its_fields_and_links(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        operation_id = created["operations"][0]["id"]
        response = client.get(f"/v1/operations/{operation_id}")
        missing = client.get(f"/v1/operations/{uuid.uuid4()}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == operation_id
    assert body["database_id"] == created["id"]
    assert body["type"] == "create"
    assert body["state"] == "pending"
    assert body["origin"] == "api"
    assert body["attempt"] == 0
    assert body["error"] is None
    assert body["params"]["storage"] == "10Gi"
    assert body["links"] == {
        "self": f"/v1/operations/{operation_id}",
        "database": f"/v1/databases/{created['id']}",
    }
    assert_problem(missing, 404, "not-found")


def test_cancelling_a_pending_operation_rolls_its_change_back(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}"
        patched = client.patch(path, json={"replicas": 3}).json()
        scale = patched["operations"][0]
        response = client.post(f"/v1/operations/{scale['id']}/cancel")
        again = client.post(f"/v1/operations/{scale['id']}/cancel")
        database = client.get(path).json()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "cancelled"
    assert body["finished_at"] is not None
    assert body["error"]["detail"].startswith("cancelled by key:")
    problem = assert_problem(again, 409, "operation-not-cancellable")
    assert problem["state"] == "cancelled"
    assert database["replicas"] == 1


def test_an_operation_that_has_started_cannot_be_cancelled(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        operation_id = created["operations"][0]["id"]
        with postgres.connect(api.database_url) as conn:  # a worker claims it
            claimed = operations.claim(
                conn, uuid.UUID(operation_id), owner="worker-1", lease_seconds=60
            )
        assert claimed is not None
        response = client.post(f"/v1/operations/{operation_id}/cancel")
        operation: dict[str, Any] = client.get(f"/v1/operations/{operation_id}").json()
    assert_problem(response, 409, "operation-not-cancellable")
    assert operation["state"] == "running"

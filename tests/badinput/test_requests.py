"""Hostile request lines and headers, and requests that conflict with a resource's state.

Beyond what tests/integration/test_api_*.py already prove (unknown routes, 405, one bad
id per route family, bad limits and filters, three bad cursors on one list, a 256-character
Idempotency-Key, PATCH/DELETE of a database being deleted, cancelling a running or an
already cancelled operation): malformed ids on EVERY {id} route and method (taken from the
app's own routes), hostile cursors on every list, If-Match garbage, oversized headers, a
restart of a database being deleted, and cancels of operations in every other state.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.api.app import routes
from services.clients import postgres
from services.control import outcomes
from services.store import operations
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
    spec,
)

ID_ROUTES = [
    (method, route.path)
    for route in routes()
    if "{id}" in route.path
    for method in sorted(route.methods or ())
    if method != "HEAD"
]
MALFORMED_IDS = {
    "a word": "not-a-uuid",
    "33 hex digits": "0" * 33,
    "a uuid and one more character": f"{uuid.UUID(int=1)}0",
    "an encoded NUL": "%00",
    "an encoded slash climbing up": "..%2F..%2Fhealthz",
    "an SQL fragment": "1%27%20OR%20%271%27=%271",
    "an emoji": "%F0%9F%98%80",
    "4 KB of digits": "1" * 4096,
}


def cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.fixture(name="admin")
def admin_fixture(offline_api: LiveApi) -> Iterator[httpx.Client]:
    with offline_api.client(offline_api.key()) as client:
        yield client


# -- ids ---------------------------------------------------------------------------------


def test_every_id_route_is_tried() -> None:
    assert len(ID_ROUTES) >= 9
    assert ("POST", "/v1/operations/{id}/cancel") in ID_ROUTES


@pytest.mark.parametrize(("method", "template"), ID_ROUTES, ids=[f"{m} {t}" for m, t in ID_ROUTES])
def test_a_malformed_id_on_any_route_is_404_not_a_server_error(
    admin: httpx.Client, method: str, template: str
) -> None:
    for label, raw in MALFORMED_IDS.items():
        body = {"replicas": 2} if method == "PATCH" else None
        response = admin.request(method, template.replace("{id}", raw), json=body)
        assert response.status_code == 404, (label, response.text)
        assert response.headers["content-type"] == "application/problem+json", label


def test_an_id_of_another_type_is_404(api: LiveApi) -> None:
    """A database id on /operations and an operation id on /databases name nothing."""
    with api.client(api.key()) as client:
        database = create(client, "orders")
        operation_id = database["operations"][0]["id"]
        as_operation = client.get(f"/v1/operations/{database['id']}")
        as_database = client.get(f"/v1/databases/{operation_id}")
    assert_problem(as_operation, 404, "not-found")
    assert_problem(as_database, 404, "not-found")


# -- query strings -----------------------------------------------------------------------

LISTS = [
    "/v1/databases",
    "/v1/operations",
    "/v1/databases/{id}/operations",
    "/v1/databases/{id}/events",
]
HOSTILE_CURSORS = {
    "an empty object": cursor({}),
    "a sequence past bigint": cursor({"k": "operations", "n": 10**30}),
    "a sequence of 2**63": cursor({"k": "operations", "n": 2**63}),
    "a negative sequence": cursor({"k": "operations", "n": -1}),
    "a sequence as a string": cursor({"k": "operations", "n": "5"}),
    "a sequence as a float": cursor({"k": "operations", "n": 5.5}),
    "a sequence as true": cursor({"k": "operations", "n": True}),
    "a time that is no time": cursor(
        {"k": "databases", "t": "yesterday", "i": str(uuid.UUID(int=1))}
    ),
    "a time with a NUL": cursor(
        {"k": "databases", "t": "2026-01-01\x00", "i": str(uuid.UUID(int=1))}
    ),
    "an id that is no id": cursor({"k": "databases", "t": "2026-01-01T00:00:00+00:00", "i": "x"}),
    "a year past 9999": cursor({"k": "databases", "t": "99999-01-01", "i": str(uuid.UUID(int=1))}),
    "a list": cursor(["operations", 1]),
    "a 5000-digit number": base64.urlsafe_b64encode(
        b'{"k":"operations","n":' + b"9" * 5000 + b"}"
    ).decode(),
    "deep nesting": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    "8 KB of base64": "A" * 8192,
    "padding only": "====",
    "non-ascii": "\u00e9t\u00e9",
}


@pytest.mark.parametrize("path", LISTS)
def test_a_hostile_cursor_on_any_list_is_400_or_an_empty_page_never_a_server_error(
    api: LiveApi, path: str
) -> None:
    """A cursor of the right kind past every row is a valid position (an empty page); any
    other forgery is a 400 invalid-cursor."""
    with api.client(api.key()) as client:
        database = create(client, "orders")
        url = path.replace("{id}", database["id"])
        answers = {
            label: client.get(url, params={"cursor": raw}) for label, raw in HOSTILE_CURSORS.items()
        }
    for label, response in answers.items():
        assert response.status_code in (200, 400), (label, response.text)
        if response.status_code == 400:
            assert_problem(response, 400, "invalid-cursor")
        else:
            assert response.json() == {"items": [], "next_cursor": None}, label


@pytest.mark.parametrize(
    "query",
    [
        "limit=1e2",
        "limit=%205",
        "limit=0x10",
        "limit=" + "9" * 5000,
        "limit=-0",
        "limit=",
        "state=",
        "engine=postgres%00",
        "database=%00",
        "database=" + "0" * 5000,
        "cursor=",
    ],
)
def test_a_malformed_query_value_on_the_operations_list_is_400(
    admin: httpx.Client, query: str
) -> None:
    response = admin.get(f"/v1/operations?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["type"].rsplit("/", 1)[1] in {"invalid-query", "invalid-cursor"}


@pytest.mark.parametrize("path", ["/v1/engines", f"/v1/databases/{uuid.UUID(int=1)}"])
def test_a_query_parameter_on_a_route_that_takes_none_is_400(
    admin: httpx.Client, path: str
) -> None:
    problem = assert_problem(admin.get(path, params={"limit": "5"}), 400, "invalid-query")
    assert problem["errors"][0] == {
        "field": "limit",
        "code": "unknown_field",
        "message": "unknown; allowed: none",
    }


# -- headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "if_match",
    ["garbage", '"', 'W/"x"', '"00000000-1"', ", , ,", "*x", "\u00e9", '"' + "x" * 8000 + '"'],
    ids=[
        "word",
        "lone quote",
        "weak",
        "another database's",
        "empty list",
        "star-ish",
        "latin-1",
        "8 KB",
    ],
)
def test_if_match_garbage_is_412_with_the_current_etag_and_changes_nothing(
    api: LiveApi, if_match: str
) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        path = f"/v1/databases/{database['id']}"
        etag = client.get(path).headers["etag"]
        headers = {"If-Match": if_match.encode("latin-1")}
        patched = client.patch(path, json={"replicas": 2}, headers=headers)
        deleted = client.delete(path, headers=headers)
        after = client.get(path).json()
    for response in (patched, deleted):
        assert assert_problem(response, 412, "precondition-failed")["current_etag"] == etag
    assert after["generation"] == 1
    assert after["state"] == "creating"


@pytest.mark.parametrize("if_match", ["*", "garbage, {etag}", '"nope",  {etag}'])
def test_if_match_star_or_a_list_holding_the_etag_applies(api: LiveApi, if_match: str) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        path = f"/v1/databases/{database['id']}"
        etag = client.get(path).headers["etag"]
        response = client.patch(
            path, json={"replicas": 2}, headers={"If-Match": if_match.format(etag=etag)}
        )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "key",
    ["k" * 8192, "k" * 60_000, "tab\tinside", "\x7f", "a space", "caf\xe9"],
    ids=["8 KB", "60 KB", "a tab", "DEL", "a space", "latin-1"],
)
def test_an_oversized_or_unprintable_idempotency_key_is_refused_and_creates_nothing(
    api: LiveApi, key: str
) -> None:
    with api.client(api.key()) as client:
        response = client.post(
            "/v1/databases",
            json=spec("orders"),
            headers={"Idempotency-Key": key.encode("latin-1")},
        )
        listed = client.get("/v1/databases").json()["items"]
    assert response.status_code in (400, 431), response.text
    if response.status_code == 400:
        assert_problem(response, 400, "bad-request")
    assert listed == []


def test_an_oversized_authorization_header_is_refused_without_a_server_error(
    offline_api: LiveApi,
) -> None:
    with offline_api.client(headers={"Authorization": "Bearer " + "x" * 60_000}) as client:
        response = client.get("/v1/databases")
    assert response.status_code in (401, 431)


# -- connections -------------------------------------------------------------------------

EARLY_REFUSALS = {
    "401 without a key": ("POST", "/v1/databases", {}),
    "405": ("PUT", "/v1/databases", None),
    "404 for a malformed id": ("PATCH", "/v1/databases/nope", None),
    "415": ("POST", "/v1/databases", {"Content-Type": "text/plain"}),
    "400 for a bad Idempotency-Key": ("POST", "/v1/databases", {"Idempotency-Key": "k" * 300}),
}


@pytest.mark.parametrize("refusal", list(EARLY_REFUSALS.values()), ids=list(EARLY_REFUSALS))
def test_a_refusal_before_the_body_is_read_announces_the_close_and_the_next_request_works(
    offline_api: LiveApi, refusal: tuple[str, str, dict[str, str] | None]
) -> None:
    """Hypercorn cannot reuse a connection whose request body is still unread; unannounced,
    the client's next request on it would fail with "server disconnected"."""
    method, path, extra = refusal
    token = None if extra == {} else offline_api.key()
    headers = {"Content-Type": "application/json"} | (extra or {})
    body = json.dumps(spec("orders")).encode() + b" " * 30_000  # more than one TCP segment
    with offline_api.client(token) as client:
        for _ in range(20):
            refused = client.request(method, path, content=body, headers=headers)
            assert refused.status_code in (400, 401, 404, 405, 415), refused.text
            assert refused.headers["connection"] == "close"
            assert client.get("/healthz").status_code == 200


def test_a_request_whose_body_was_read_keeps_its_connection(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        accepted = client.post("/v1/databases", json=spec("orders"))
        refused = client.post("/v1/databases", json=spec("Bad Name"))
        read = client.get("/v1/databases")
    assert accepted.status_code == 202
    assert refused.status_code == 422
    for response in (accepted, refused, read):
        assert "close" not in response.headers.get("connection", "")


# -- state conflicts ---------------------------------------------------------------------


def test_a_restart_of_a_database_being_deleted_is_409_and_queues_nothing(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        path = f"/v1/databases/{database['id']}"
        assert client.delete(path).status_code == 202
        restart = client.post(f"{path}/restart")
        keyed = client.post(f"{path}/restart", headers={"Idempotency-Key": "r-1"})
        operations_after = client.get(f"{path}/operations").json()["items"]
    assert_problem(restart, 409, "database-deleting")
    assert_problem(keyed, 409, "database-deleting")
    assert [op["type"] for op in operations_after] == ["create", "delete"]


def test_a_database_deleted_twice_concurrently_gets_one_delete(api: LiveApi) -> None:
    import threading

    with api.client(api.key()) as client:
        database = create(client, "orders")
        path = f"/v1/databases/{database['id']}"
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda: answers.append(client.delete(path).status_code))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        types = [op["type"] for op in client.get(f"{path}/operations").json()["items"]]
    assert sorted(answers) == [202] + [409] * 7
    assert types.count("delete") == 1


def _drive(database_url: str, operation_id: str, state: str) -> None:
    """Move an operation as the worker and status-sync would."""
    op = uuid.UUID(operation_id)
    with postgres.connect(database_url) as conn:
        assert operations.claim(conn, op, owner="w", lease_seconds=60) is not None
        if state == "running":
            return
        assert operations.mark_waiting(conn, op, owner="w", k8s_kind="Postgres", k8s_name="x")
        if state == "waiting":
            return
        if state == "succeeded":
            outcomes.succeed_operation(conn, op, actor="status-sync")
        else:
            outcomes.fail_operation(
                conn, op, problem={"type": "t", "title": "t", "detail": "d"}, actor="worker"
            )


@pytest.mark.parametrize("state", ["waiting", "succeeded", "failed"])
def test_cancelling_an_operation_that_is_not_pending_is_409_naming_its_state(
    api: LiveApi, state: str
) -> None:
    with api.client(api.key()) as client:
        database = create(client, "orders")
        operation_id = database["operations"][0]["id"]
        _drive(api.database_url, operation_id, state)
        response = client.post(f"/v1/operations/{operation_id}/cancel")
        after = client.get(f"/v1/operations/{operation_id}").json()
    problem = assert_problem(response, 409, "operation-not-cancellable")
    assert problem["state"] == state
    assert after["state"] == state

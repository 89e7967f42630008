"""Authentication, roles and project isolation on EVERY /v1 route.

The route table below lists each route with the least role it needs; a test at the end
checks the table against the app's routes, so a new route cannot skip these tests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.app import routes
from services.clients import postgres
from services.store import keys as store_keys
from tests.api_harness import (
    LiveApi,
    api_settings,
    assert_problem,
    create,
    running_api,
    spec,
)


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    template: str
    role: str  # least role that may call it
    body: dict[str, Any] | None = None

    def path(self, ids: dict[str, str]) -> str:
        return self.template.format(**ids)

    def send(self, client: httpx.Client, ids: dict[str, str]) -> httpx.Response:
        return client.request(self.method, self.path(ids), json=self.body)

    @property
    def scoped(self) -> bool:
        """Names one resource by id (so another project's key must get a 404)."""
        return "{" in self.template


CALLS = [
    Call("GET", "/v1/databases", "viewer"),
    Call("POST", "/v1/databases", "operator", spec("fresh")),
    Call("GET", "/v1/databases/{database}", "viewer"),
    Call("PATCH", "/v1/databases/{database}", "operator", {"replicas": 2}),
    Call("DELETE", "/v1/databases/{database}", "operator"),
    Call("POST", "/v1/databases/{database}/restart", "operator"),
    Call("GET", "/v1/databases/{database}/operations", "viewer"),
    Call("GET", "/v1/databases/{database}/events", "viewer"),
    Call("GET", "/v1/databases/{database}/credentials", "operator"),
    Call("GET", "/v1/operations", "viewer"),
    Call("GET", "/v1/operations/{operation}", "viewer"),
    Call("POST", "/v1/operations/{operation}/cancel", "operator"),
    Call("GET", "/v1/engines", "viewer"),
    Call("GET", "/v1/whoami", "viewer"),
    Call("GET", "/v1/quota", "viewer"),
    Call("POST", "/v1/databases/{database}/backups", "operator"),
    Call("GET", "/v1/databases/{database}/backups", "viewer"),
    Call("GET", "/v1/backups", "viewer"),
    Call("GET", "/v1/backups/{backup}", "viewer"),
    Call("GET", "/v1/keys", "admin"),
    Call("POST", "/v1/keys", "admin", {"name": "spare", "role": "viewer"}),
    Call("DELETE", "/v1/keys/{key}", "admin"),
]
PLATFORM_CALLS = [
    Call("GET", "/v1/projects/{project}/quota", "admin"),
    Call("PATCH", "/v1/projects/{project}/quota", "admin", {"databases": 7}),
]
"""Only an admin key of the platform project may call these, for any project."""
IDS = [f"{call.method} {call.template}" for call in CALLS]
EVERY = CALLS + PLATFORM_CALLS
EVERY_IDS = [f"{call.method} {call.template}" for call in EVERY]
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@dataclasses.dataclass
class World:
    api: LiveApi
    ids: dict[str, str]  # a database and its create operation, in project alpha
    keys: dict[str, str]  # role -> key of project alpha; "other" -> admin of project beta


@pytest.fixture
def world(api: LiveApi) -> Iterator[World]:
    keys = {role: api.key(role=role) for role in RANK}
    keys["other"] = api.key(role="admin", project="beta")
    with api.client(keys["admin"]) as client:
        created = create(client, "orders")
        backup = client.post(f"/v1/databases/{created['id']}/backups")
        assert backup.status_code == 202, backup.text
    with postgres.connect(api.database_url) as conn:
        _, spare = store_keys.issue(conn, project_id="alpha", role="viewer")
    ids = {
        "database": created["id"],
        "operation": created["operations"][0]["id"],
        "key": str(spare.id),
        "backup": backup.json()["id"],
        "project": "alpha",
    }
    yield World(api, ids, keys)


def test_the_route_table_covers_every_v1_route_of_the_app() -> None:
    app_routes = {
        (method, route.path.replace("{id}", "{x}"))
        for route in routes()
        if route.path.startswith("/v1")
        for method in route.methods or ()
        if method != "HEAD"
    }
    tested = {
        (
            call.method,
            call.template.replace("{database}", "{x}")
            .replace("{operation}", "{x}")
            .replace("{key}", "{x}")
            .replace("{backup}", "{x}"),
        )
        for call in EVERY
    }
    assert tested == app_routes


@pytest.mark.parametrize("call", EVERY, ids=EVERY_IDS)
def test_a_request_without_a_key_is_401_with_a_bearer_challenge(world: World, call: Call) -> None:
    with world.api.client() as client:
        response = call.send(client, world.ids)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("call", EVERY, ids=EVERY_IDS)
@pytest.mark.parametrize(
    "header",
    ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Bearer dbaas_000000000000_nope", "Bearer x"],
    ids=["basic", "empty", "unknown", "garbled"],
)
def test_a_malformed_or_unknown_key_is_401(world: World, call: Call, header: str) -> None:
    with world.api.client(headers={"Authorization": header}) as client:
        response = call.send(client, world.ids)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("call", EVERY, ids=EVERY_IDS)
def test_a_revoked_key_is_401(world: World, call: Call) -> None:
    token = world.api.key(role="admin")
    world.api.revoke(token)
    with world.api.client(token) as client:
        assert_problem(call.send(client, world.ids), 401, "unauthorized")


@pytest.mark.parametrize("call", [c for c in CALLS if c.role != "viewer"], ids=lambda c: c.template)
def test_a_viewer_may_not_mutate_or_read_credentials(world: World, call: Call) -> None:
    with world.api.client(world.keys["viewer"]) as client:
        response = call.send(client, world.ids)
        after = client.get(f"/v1/databases/{world.ids['database']}").json()
    problem = assert_problem(response, 403, "forbidden")
    assert call.role in problem["detail"]
    assert after["generation"] == 1
    assert after["state"] == "creating"


@pytest.mark.parametrize("call", PLATFORM_CALLS, ids=lambda c: c.method)
def test_only_a_platform_admin_may_manage_a_projects_quotas(world: World, call: Call) -> None:
    for role in (*RANK, "other"):  # every role of the project itself, and another project's
        with world.api.client(world.keys[role]) as client:
            assert_problem(call.send(client, world.ids), 403, "forbidden")
    with world.api.client(world.api.key(project="platform")) as client:
        response = call.send(client, world.ids)
    assert response.status_code == 200, response.text
    assert response.json()["project"] == "alpha"


ALLOWED = [(call, role) for call in CALLS for role in RANK if RANK[role] >= RANK[call.role]]


@pytest.mark.parametrize(
    ("call", "role"), ALLOWED, ids=[f"{role} {c.method} {c.template}" for c, role in ALLOWED]
)
def test_each_role_may_call_what_its_rank_allows(world: World, call: Call, role: str) -> None:
    with world.api.client(world.keys[role]) as client:
        response = call.send(client, world.ids)
    # credentials: 409 until KubeDB has made the Secret; everything else succeeds.
    expected = {409} if call.template.endswith("credentials") else {200, 201, 202}
    assert response.status_code in expected, response.text


@pytest.mark.parametrize("call", [c for c in CALLS if c.scoped], ids=lambda c: c.template)
def test_another_projects_resource_is_404_like_a_missing_one(world: World, call: Call) -> None:
    with world.api.client(world.keys["other"]) as client:
        response = call.send(client, world.ids)
    with world.api.client(world.keys["admin"]) as client:
        after = client.get(f"/v1/databases/{world.ids['database']}").json()
    problem = assert_problem(response, 404, "not-found")
    assert "beta" not in problem["detail"] and "alpha" not in problem["detail"]
    assert after["generation"] == 1
    assert after["state"] == "creating"


def test_lists_show_only_the_callers_project(world: World) -> None:
    with world.api.client(world.keys["other"]) as client:
        create(client, "orders")  # the same name is free in another project
        databases = client.get("/v1/databases").json()["items"]
        operations = client.get("/v1/operations").json()["items"]
        filtered = client.get("/v1/operations", params={"database": world.ids["database"]})
    assert [db["name"] for db in databases] == ["orders"]
    assert world.ids["database"] not in {db["id"] for db in databases}
    assert world.ids["operation"] not in {op["id"] for op in operations}
    assert filtered.json()["items"] == []


def test_revocation_takes_effect_within_the_auth_cache_ttl(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    ttl = 1.0
    with running_api(api_settings(database_url, redis_url, tmp_path), auth_ttl=ttl) as live:
        token = live.key(role="viewer")
        with live.client(token) as client:
            assert client.get("/v1/databases").status_code == 200
            live.revoke(token)
            revoked_at = time.monotonic()
            while client.get("/v1/databases").status_code == 200:
                assert time.monotonic() - revoked_at < ttl + 1.0, "revocation did not apply"
                time.sleep(0.05)
    assert time.monotonic() - revoked_at <= ttl + 1.0

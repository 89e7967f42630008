"""Every /v1 route needs a key, and another project's resource is indistinguishable from none.

Extends tests/integration/test_api_auth.py (which checks GET/POST/PATCH/DELETE of its
route table without a key, with malformed, unknown and revoked keys, by role, and another
project's admin key → 404) with what it leaves out:
- every HTTP method, HEAD and OPTIONS included, on every /v1 route, taken from the app's
  own routes, and both a real and a malformed id: 401 where the method exists, 405 where it
  does not, never an answer that needs no key;
- a forged key (a real key's prefix, a wrong secret), which exercises the digest compare;
- for every role of another project, on every route that names a resource: the answer for
  this project's resource equals the answer for an id that exists nowhere (status, type,
  title, detail with the id swapped, headers), so nothing tells "exists elsewhere" apart
  from "does not exist";
- cursors carry no authority: another project's cursor only pages the caller's own rows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.api.app import routes
from services.clients import postgres
from services.store import keys as store_keys
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
)
from tests.integration.test_api_auth import CALLS, RANK, Call

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
V1_ROUTES = [
    (route.path, frozenset(route.methods or ()))
    for route in routes()
    if route.path.startswith("/v1")
]
VARYING_HEADERS = {"date", "content-length", "server"}


@dataclasses.dataclass
class World:
    api: LiveApi
    ids: dict[str, str]  # a database of project alpha and its create operation
    keys: dict[str, str]  # role -> key of project alpha


@pytest.fixture(name="world")
def world_fixture(api: LiveApi) -> Iterator[World]:
    keys = {role: api.key(role=role) for role in RANK}
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
    }
    yield World(api, ids, keys)


def _fill(template: str, value: str) -> str:
    return template.replace("{id}", value).replace("{project}", "alpha")


def test_the_routes_under_test_are_the_apps_v1_routes() -> None:
    assert len(V1_ROUTES) == 18
    assert all("HEAD" in methods for path, methods in V1_ROUTES if "GET" in methods)


@pytest.mark.parametrize(("template", "allowed"), V1_ROUTES, ids=[p for p, _ in V1_ROUTES])
def test_every_method_on_every_v1_route_without_a_key_is_401_or_405(
    world: World, template: str, allowed: frozenset[str]
) -> None:
    real = (
        world.ids["operation"] if template.startswith("/v1/operations/") else world.ids["database"]
    )
    with world.api.client() as client:
        for value in (real, "not-a-uuid"):
            path = _fill(template, value)
            for method in METHODS:
                response = client.request(
                    method,
                    path,
                    json={"replicas": 2} if method in ("POST", "PATCH", "PUT") else None,
                )
                where = f"{method} {path}"
                if method in allowed:
                    assert response.status_code == 401, where
                    assert response.headers["www-authenticate"].startswith("Bearer"), where
                else:
                    assert response.status_code == 405, where
                if method != "HEAD":
                    assert response.headers["content-type"] == "application/problem+json", where
    with world.api.client(world.keys["admin"]) as client:
        after = client.get(f"/v1/databases/{world.ids['database']}").json()
    assert after["generation"] == 1
    assert after["state"] == "creating"


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.method} {c.template}" for c in CALLS])
def test_a_forged_key_with_a_real_prefix_and_a_wrong_secret_is_401(
    world: World, call: Call
) -> None:
    _, prefix, secret = world.keys["admin"].split("_", 2)
    forgeries = [
        f"dbaas_{prefix}_{'A' * len(secret)}",
        f"dbaas_{prefix}_{secret[:-1]}",  # one character short
        f"dbaas_{prefix}_{secret}x",  # one character more
        f"dbaas_{prefix}_",
    ]
    for forged in forgeries:
        with world.api.client(forged) as client:
            assert_problem(call.send(client, world.ids), 401, "unauthorized")


SCOPED = [call for call in CALLS if call.scoped]
BY_ROLE = [(call, role) for call in SCOPED for role in RANK]


def _comparable(response: httpx.Response, resource_id: str) -> dict[str, Any]:
    body = response.json()
    return {
        "status": response.status_code,
        "body": {k: str(v).replace(resource_id, "<id>") for k, v in body.items()},
        "headers": {
            k: v.replace(resource_id, "<id>")
            for k, v in response.headers.items()
            if k not in VARYING_HEADERS
        },
    }


@pytest.mark.parametrize(
    ("call", "role"), BY_ROLE, ids=[f"{role} {c.method} {c.template}" for c, role in BY_ROLE]
)
def test_another_projects_resource_answers_exactly_like_one_that_exists_nowhere(
    world: World, call: Call, role: str
) -> None:
    other = world.api.key(role=role, project="beta")
    nowhere = {name: str(uuid.uuid4()) for name in world.ids}
    with world.api.client(other) as client:
        elsewhere = call.send(client, world.ids)
        missing = call.send(client, nowhere)
    target = next(name for name in world.ids if "{" + name + "}" in call.template)
    seen = _comparable(elsewhere, world.ids[target])
    assert seen == _comparable(missing, nowhere[target])
    assert seen["status"] in (403, 404)  # a role refusal (before any lookup) or not found
    with world.api.client(world.keys["admin"]) as client:
        after = client.get(f"/v1/databases/{world.ids['database']}").json()
    assert after["generation"] == 1


def test_another_projects_cursor_pages_only_the_callers_own_rows(world: World) -> None:
    with world.api.client(world.keys["admin"]) as alpha:
        for index in range(3):
            create(alpha, f"alpha-{index}")
        alpha_cursor = alpha.get("/v1/databases", params={"limit": 1}).json()["next_cursor"]
        alpha_ops_cursor = alpha.get("/v1/operations", params={"limit": 1}).json()["next_cursor"]
    with world.api.client(world.api.key(project="beta")) as beta:
        create(beta, "beta-only")
        databases = beta.get("/v1/databases", params={"cursor": alpha_cursor}).json()
        operations = beta.get("/v1/operations", params={"cursor": alpha_ops_cursor}).json()
    assert [db["name"] for db in databases["items"]] == ["beta-only"]
    assert len(operations["items"]) == 1
    assert operations["items"][0]["database_id"] == databases["items"][0]["id"]


def test_a_lists_filter_on_another_projects_database_is_empty_not_a_leak(world: World) -> None:
    with world.api.client(world.api.key(project="beta")) as beta:
        response = beta.get("/v1/operations", params={"database": world.ids["database"]})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}

"""`/v1/keys` for a project's admins, key expiry, and revocation across API processes.

Two API servers share PostgreSQL and Redis and cache authentications for a minute; a key
revoked through one is refused by both as soon as the revocation answers, because the
answer waits until every process confirmed it forgot the key (Redis pub/sub).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clients import postgres
from services.settings import Settings
from services.store import events, keys
from tests.api_harness import LiveApi, api_settings, assert_problem, running_api

CACHE_SECONDS = 60.0  # far longer than the test: only the announcement can evict


@pytest.fixture(name="settings")
def settings_fixture(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return api_settings(database_url, redis_url, tmp_path)


@contextlib.contextmanager
def two_apis(settings: Settings) -> Iterator[tuple[LiveApi, LiveApi]]:
    with (
        running_api(settings, auth_ttl=CACHE_SECONDS) as first,
        running_api(dataclasses.replace(settings), auth_ttl=CACHE_SECONDS) as second,
    ):
        yield first, second


def test_an_admin_issues_lists_and_revokes_keys_and_each_is_audited(settings: Settings) -> None:
    with running_api(settings, auth_ttl=0) as api, api.client(api.key("admin")) as admin:
        expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
        created = admin.post(
            "/v1/keys", json={"name": "ci deploys", "role": "operator", "expires_at": expiry}
        )
        assert created.status_code == 201, created.text
        issued = created.json()
        assert issued["key"].startswith("dbaas_") and issued["role"] == "operator"
        assert created.headers["cache-control"] == "no-store"
        with api.client(issued["key"]) as operator:
            assert operator.get("/v1/databases").status_code == 200
            assert_problem(operator.get("/v1/keys"), 403, "forbidden")
            assert_problem(operator.post("/v1/keys", json={"name": "x", "role": "viewer"}),
                           403, "forbidden")  # fmt: skip
        listed = admin.get("/v1/keys")
        revoked = admin.delete(f"/v1/keys/{issued['id']}")
        again = admin.delete(f"/v1/keys/{issued['id']}")
        with api.client(issued["key"]) as operator:
            refused = operator.get("/v1/databases")
    assert listed.status_code == 200
    assert issued["key"] not in listed.text
    names = {item["name"]: item for item in listed.json()["items"]}
    assert names["ci deploys"]["state"] == "active"
    assert "key" not in names["ci deploys"]
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert_problem(again, 404, "not-found")
    assert_problem(refused, 401, "unauthorized")
    with postgres.connect(settings.database_url) as conn:
        audit = [e.kind for e in events.of_kind(conn, "key.created")]
        audit += [e.kind for e in events.of_kind(conn, "key.revoked")]
    assert audit == ["key.created", "key.revoked"]


def test_bad_key_requests_are_422_listing_every_field_and_other_projects_are_404(
    settings: Settings,
) -> None:
    with postgres.connect(settings.database_url) as conn:
        _, foreign = keys.issue(conn, project_id="beta", role="viewer")
    with running_api(settings, auth_ttl=0) as api, api.client(api.key("admin")) as admin:
        bad = admin.post(
            "/v1/keys",
            json={"role": "root", "expires_at": "2001-01-01T00:00:00+00:00", "x": 1},
        )
        naive = admin.post(
            "/v1/keys", json={"name": "n", "role": "viewer", "expires_at": "2099-01-01T00:00:00"}
        )
        cross = admin.delete(f"/v1/keys/{foreign.id}")
        unstorable = [
            admin.post(
                "/v1/keys",
                content=b'{"name": "%s", "role": "viewer"}' % escaped,
                headers={"Content-Type": "application/json"},
            )
            for escaped in (b"nul\\u0000", b"line\\nbreak")
        ]
    problem = assert_problem(bad, 422, "validation-failed")
    for answer in unstorable:
        refused = assert_problem(answer, 422, "validation-failed")
        assert [e["field"] for e in refused["errors"]] == ["name"]
    assert {e["field"] for e in problem["errors"]} == {"name", "role", "expires_at", "x"}
    assert_problem(naive, 422, "validation-failed")
    assert_problem(cross, 404, "not-found")


def test_an_expired_key_is_refused(settings: Settings) -> None:
    with postgres.connect(settings.database_url) as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        token, _ = keys.issue(conn, project_id="alpha", role="admin", expires_at=past)
    with running_api(settings, auth_ttl=CACHE_SECONDS) as api, api.client(token) as client:
        assert_problem(client.get("/v1/databases"), 401, "unauthorized")


def test_a_key_revoked_through_one_api_is_refused_by_every_api_once_confirmed(
    settings: Settings,
) -> None:
    with two_apis(settings) as (first, second):
        admin_key = first.key("admin")
        victim = first.key("operator")
        with first.client(victim) as on_first, second.client(victim) as on_second:
            # both processes now hold the key in their cache for a minute
            assert on_first.get("/v1/databases").status_code == 200
            assert on_second.get("/v1/databases").status_code == 200
            with first.client(admin_key) as admin:
                victim_id = next(
                    item["id"]
                    for item in admin.get("/v1/keys").json()["items"]
                    if item["role"] == "operator"
                )
                revoked = admin.delete(f"/v1/keys/{victim_id}")
            assert revoked.status_code == 200, revoked.text
            revocation = revoked.json()["revocation"]
            # both servers (and any other listener of this Redis db) heard and confirmed it
            assert revocation["processes"] >= 2
            assert revocation["confirmed"] == revocation["processes"]
            assert_problem(on_second.get("/v1/databases"), 401, "unauthorized")
            assert_problem(on_first.get("/v1/databases"), 401, "unauthorized")

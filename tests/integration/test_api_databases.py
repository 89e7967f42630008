"""/v1/databases over HTTP: create, read, list, patch, delete, restart, events, credentials,
engines; against real PostgreSQL and Redis and the simulated cluster's catalog."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import redis
from kubernetes import client as k8s
from psycopg.types.json import Jsonb
from rq import Queue

from services.clients import postgres
from tests.api_harness import (
    LiveApi,
    assert_problem,
    create,
    spec,
)
from tests.integration.reconciler_rows import new_database, principal_for


def queued_operation_ids(redis_url: str, queue_name: str) -> list[str]:
    connection = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(queue_name, connection=connection)
        return [job.args[0] for job in queue.get_jobs()]
    finally:
        connection.close()


def test_create_answers_202_with_the_database_its_operation_and_where_to_find_it(
    api: LiveApi, redis_url: str
) -> None:
    with api.client(api.key(role="operator")) as client:
        response = client.post(
            "/v1/databases",
            json=spec("orders", replicas=3, resources={"cpu": "500m", "memory": "1Gi"}),
        )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["name"] == "orders"
    assert body["engine"] == "postgres"
    assert body["version"] == "16.13"
    assert body["replicas"] == 3
    assert body["storage"] == "10Gi"
    assert body["resources"] == {"cpu": "500m", "memory": "1Gi"}
    assert body["deletion_policy"] == "Delete"
    assert body["drift_policy"] == "correct"
    assert body["generation"] == 1
    assert body["state"] == "creating"
    assert body["status"]["phase"] is None
    assert body["status"]["observed_generation"] is None
    assert body["links"]["self"] == f"/v1/databases/{body['id']}"
    assert response.headers["location"] == f"/v1/databases/{body['id']}"
    assert response.headers["etag"] == f'"{uuid.UUID(body["id"]).hex[:8]}-1"'
    [operation] = body["operations"]
    assert operation["type"] == "create"
    assert operation["state"] == "pending"
    assert operation["origin"] == "api"
    assert operation["database_id"] == body["id"]
    assert queued_operation_ids(redis_url, api.settings.queue_name) == [operation["id"]]


def test_create_still_succeeds_when_redis_is_down_and_leaves_the_operation_pending(
    database_url: str, tmp_path: Any, sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.api_harness import api_settings, free_port, running_api

    settings = api_settings(database_url, f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    settings = type(settings)(**{**settings.__dict__, "kubeconfig": str(sim.kubeconfig)})
    caplog.set_level(logging.WARNING, logger="services.api.backends")
    with running_api(settings) as live, live.client(live.key()) as client:
        response = client.post("/v1/databases", json=spec("orders"))
        operation_id = response.json()["operations"][0]["id"]
        operation = client.get(f"/v1/operations/{operation_id}").json()
    assert response.status_code == 202
    assert operation["state"] == "pending"
    assert f"operations {operation_id}: enqueue failed" in caplog.text


def test_get_returns_the_database_with_its_etag(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        response = client.get(f"/v1/databases/{created['id']}")
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{uuid.UUID(created["id"]).hex[:8]}-1"'
    body = response.json()
    assert "operations" not in body
    assert body.pop("restorable_window") is None  # GET of one database only; not archived
    assert {k: v for k, v in created.items() if k != "operations"} == body


def test_get_of_an_unknown_or_malformed_id_is_404(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        assert_problem(client.get(f"/v1/databases/{uuid.uuid4()}"), 404, "not-found")
        assert_problem(client.get("/v1/databases/not-a-uuid"), 404, "not-found")


def test_list_pages_with_an_opaque_cursor_until_next_cursor_is_null(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        names = [f"db{i}" for i in range(5)]
        for name in names:
            create(client, name)
        seen: list[str] = []
        pages = 0
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/v1/databases", params=params).json()
            pages += 1
            seen += [item["name"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == names
    assert pages == 3


def test_a_listed_database_reads_exactly_as_its_own_get_with_its_observed_status(
    api: LiveApi,
) -> None:
    """The list builds its items from plain rows, GET from a record: one shape for both."""
    observed = {"replicas": 3, "storage": "10Gi", "nested": {"list": [1, 2.5, None, True]}}
    conditions = [{"type": "Ready", "status": "True", "message": 'naïve ✓ "quoted"'}]
    with api.client(api.key()) as client:
        ids = [create(client, name)["id"] for name in ("first", "second")]
        with postgres.connect(api.database_url) as conn:
            conn.execute(
                "UPDATE databases SET phase = 'Ready', observed_generation = 1,"
                " observed_spec = %s, conditions = %s, endpoint = 'first.svc:5432',"
                " status_message = 'all good', synced_at = now() WHERE id = %s",
                (Jsonb(observed), Jsonb(conditions), ids[0]),
            )
        first_page = client.get("/v1/databases", params={"limit": 1}).json()
        cursor = first_page["next_cursor"]
        second_page = client.get("/v1/databases", params={"limit": 1, "cursor": cursor}).json()
        gets = [client.get(f"/v1/databases/{database_id}").json() for database_id in ids]
    for got in gets:  # GET of one database adds its restorable window; else the same
        assert got.pop("restorable_window") is None
    assert first_page["items"] == [gets[0]]
    assert second_page == {"items": [gets[1]], "next_cursor": None}
    assert gets[0]["status"] | {"synced_at": None} == {
        "phase": "Ready",
        "observed_generation": 1,
        "observed": observed,
        "endpoint": "first.svc:5432",
        "conditions": conditions,
        "message": "all good",
        "synced_at": None,
    }
    assert gets[0]["status"]["synced_at"].endswith("Z")


def test_list_filters_by_engine_state_and_name(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        create(client, "pg-one")
        create(client, "cache", engine="redis", version="7.4.6", storage="1Gi")
        deleted = create(client, "gone")
        client.delete(f"/v1/databases/{deleted['id']}")

        def names(**params: Any) -> list[str]:
            response = client.get("/v1/databases", params=params)
            assert response.status_code == 200, response.text
            return [item["name"] for item in response.json()["items"]]

        assert names(engine="redis") == ["cache"]
        assert names(name="pg-one") == ["pg-one"]
        assert names(state="deleting") == ["gone"]
        assert names(engine="postgres", state="creating") == ["pg-one"]
        assert names() == ["pg-one", "cache", "gone"]


def test_patch_queues_operations_bumps_the_generation_and_changes_the_etag(
    api: LiveApi, redis_url: str
) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        response = client.patch(
            f"/v1/databases/{created['id']}",
            json={"replicas": 3, "storage": "20Gi"},
            headers={"If-Match": f'"{uuid.UUID(created["id"]).hex[:8]}-1"'},
        )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["replicas"] == 3
    assert body["storage"] == "20Gi"
    assert body["generation"] == 2
    assert body["state"] == "updating"
    assert response.headers["etag"] == f'"{uuid.UUID(created["id"]).hex[:8]}-2"'
    types = [op["type"] for op in body["operations"]]
    assert sorted(types) == ["expand", "scale"]
    assert response.headers["location"] == f"/v1/operations/{body['operations'][-1]['id']}"
    queued = queued_operation_ids(redis_url, api.settings.queue_name)
    assert queued[1:] == [op["id"] for op in body["operations"]]


def test_patch_accepts_a_merge_patch_media_type(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        response = client.patch(
            f"/v1/databases/{created['id']}",
            content=b'{"deletion_policy": "Halt"}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
    assert response.status_code == 202, response.text
    assert response.json()["deletion_policy"] == "Halt"


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}"
        stale = f'"{uuid.UUID(created["id"]).hex[:8]}-1"'
        assert client.patch(path, json={"replicas": 3}).status_code == 202
        problem = assert_problem(
            client.patch(path, json={"storage": "20Gi"}, headers={"If-Match": stale}),
            412,
            "precondition-failed",
        )
        current = client.get(path).json()
    assert problem["current_etag"] == f'"{uuid.UUID(created["id"]).hex[:8]}-2"'
    assert current["storage"] == "10Gi"


def test_patch_that_breaks_rules_is_422_listing_every_field(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders", storage="20Gi")
        response = client.patch(
            f"/v1/databases/{created['id']}",
            json={"storage": "10Gi", "engine": "mysql", "colour": "blue"},
        )
    problem = assert_problem(response, 422, "validation-failed")
    codes = {error["field"]: error["code"] for error in problem["errors"]}
    assert codes == {"storage": "storage_shrink", "engine": "immutable", "colour": "unknown_field"}


def test_create_that_breaks_rules_is_422_listing_every_field(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        response = client.post(
            "/v1/databases",
            json={"name": "Bad_Name", "engine": "postgres", "version": "1.0", "storage": "1Mi"},
        )
    problem = assert_problem(response, 422, "validation-failed")
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"name", "version", "storage"}
    assert all(set(error) == {"field", "code", "message"} for error in problem["errors"])


def test_a_taken_name_is_409(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        create(client, "orders")
        assert_problem(client.post("/v1/databases", json=spec("orders")), 409, "name-taken")


def test_delete_answers_202_then_a_second_delete_is_409_deleting(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}"
        response = client.delete(path)
        again = client.delete(path)
        patched = client.patch(path, json={"replicas": 3})
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "deleting"
    [operation] = response.json()["operations"]
    assert operation["type"] == "delete"
    assert_problem(again, 409, "database-deleting")
    assert_problem(patched, 409, "database-deleting")


def test_delete_of_a_do_not_terminate_database_is_409(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders", deletion_policy="DoNotTerminate")
        response = client.delete(f"/v1/databases/{created['id']}")
    problem = assert_problem(response, 409, "deletion-protected")
    assert "DoNotTerminate" in problem["detail"]


def test_delete_with_a_stale_if_match_is_412(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}"
        client.patch(path, json={"replicas": 2})
        stale = f'"{uuid.UUID(created["id"]).hex[:8]}-1"'
        assert_problem(client.delete(path, headers={"If-Match": stale}), 412, "precondition-failed")
        assert client.get(path).json()["state"] == "updating"


def test_restart_answers_202_with_a_restart_operation(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        response = client.post(f"/v1/databases/{created['id']}/restart")
    assert response.status_code == 202, response.text
    [operation] = response.json()["operations"]
    assert operation["type"] == "restart"
    assert response.headers["location"] == f"/v1/operations/{operation['id']}"


def test_database_operations_and_events_tell_its_history(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        other = create(client, "other")
        path = f"/v1/databases/{created['id']}"
        client.patch(path, json={"replicas": 3})
        operations = client.get(f"{path}/operations").json()
        pending = client.get(f"{path}/operations", params={"state": "pending"}).json()
        events = client.get(f"{path}/events").json()
        first_event = client.get(f"{path}/events", params={"limit": 1}).json()
        rest = client.get(f"{path}/events", params={"cursor": first_event["next_cursor"]}).json()
    assert [op["type"] for op in operations["items"]] == ["create", "scale"]
    assert other["operations"][0]["id"] not in {op["id"] for op in operations["items"]}
    assert len(pending["items"]) == 2
    kinds = [event["kind"] for event in events["items"]]
    assert kinds == ["database.create-requested", "database.update-requested"]
    assert events["items"][0]["actor"].startswith("key:")
    assert first_event["items"] + rest["items"] == events["items"]
    assert rest["next_cursor"] is None


def test_history_of_a_deleted_database_stays_readable_but_the_database_is_gone(
    api: LiveApi,
) -> None:
    """A cancelled create is the quickest way to a `deleted` database."""
    with api.client(api.key()) as client:
        created = create(client, "orders")
        client.post(f"/v1/operations/{created['operations'][0]['id']}/cancel")
        path = f"/v1/databases/{created['id']}"
        gone = client.get(path)
        operations = client.get(f"{path}/operations")
        listed = client.get("/v1/databases", params={"state": "deleted"}).json()
    assert_problem(gone, 404, "not-found")
    assert operations.status_code == 200
    assert [op["state"] for op in operations.json()["items"]] == ["cancelled"]
    assert [item["name"] for item in listed["items"]] == ["orders"]


def test_credentials_are_409_until_the_secret_exists(api: LiveApi) -> None:
    with api.client(api.key(role="operator")) as client:
        created = create(client, "orders")
        response = client.get(f"/v1/databases/{created['id']}/credentials")
    assert_problem(response, 409, "credentials-not-ready")


def test_credentials_come_from_the_auth_secret_and_every_read_is_audited(
    api: LiveApi, sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with api.client(api.key(role="operator")) as client:
        created = create(client, "orders")
        sim.create_namespace("dbaas-alpha")
        k8s.CoreV1Api(sim.api_client()).create_namespaced_secret(
            "dbaas-alpha",
            {
                "metadata": {"name": "orders-auth"},
                "type": "kubernetes.io/basic-auth",
                "stringData": {"username": "postgres", "password": "s3cret-Pa55"},
            },
        )
        response = client.get(f"/v1/databases/{created['id']}/credentials")
        events = client.get(f"/v1/databases/{created['id']}/events").json()["items"]
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "database_id": created["id"],
        "username": "postgres",
        "password": "s3cret-Pa55",
        "endpoint": None,
        "port": 5432,
    }
    audit = [event for event in events if event["kind"] == "credentials.read"]
    assert len(audit) == 1
    assert audit[0]["actor"].startswith("key:")
    assert "s3cret-Pa55" not in str(audit)
    assert "s3cret-Pa55" not in caplog.text


def test_engines_list_the_catalog_without_deprecated_versions(api: LiveApi) -> None:
    with api.client(api.key(role="viewer")) as client:
        response = client.get("/v1/engines")
    assert response.status_code == 200
    engines = {item["name"]: item for item in response.json()["items"]}
    assert set(engines) == {"postgres", "mysql", "mongodb", "redis"}
    mysql = [version["name"] for version in engines["mysql"]["versions"]]
    assert "8.4.8" in mysql
    assert "8.0.32" not in mysql  # deprecated in the catalog
    postgres = engines["postgres"]
    assert postgres["versions"][0]["name"].startswith("18.")  # newest first
    assert postgres["replicas"] == {
        "standalone": 1,
        "replicated": {
            "minimum": 2,
            "maximum": 9,
            "topology": "streaming-replication cluster",
        },
    }


def test_engines_and_creates_are_503_while_the_cluster_is_unreachable(
    offline_api: LiveApi,
) -> None:
    with offline_api.client(offline_api.key()) as client:
        engines = client.get("/v1/engines")
        created = client.post("/v1/databases", json=spec("orders"))
        listed = client.get("/v1/databases")
    assert_problem(engines, 503, "catalog-unavailable")
    assert engines.headers["retry-after"] == "5"
    assert_problem(created, 503, "catalog-unavailable")
    assert listed.status_code == 200


def test_a_patch_without_a_version_is_accepted_while_the_cluster_is_unreachable(
    offline_api: LiveApi,
) -> None:
    # only a version change needs the cluster's catalog; the rest is a wish the worker
    # applies once the cluster answers again
    with postgres.connect(offline_api.database_url) as conn:
        record, _ = new_database(conn, principal_for(conn, "alpha"), "orders", replicas=2)
    with offline_api.client(offline_api.key()) as client:
        scaled = client.patch(f"/v1/databases/{record.id}", json={"replicas": 3})
        upgraded = client.patch(f"/v1/databases/{record.id}", json={"version": "16.14"})
        after = client.get(f"/v1/databases/{record.id}")
    assert scaled.status_code == 202, scaled.text
    assert [op["type"] for op in scaled.json()["operations"]] == ["scale"]
    assert_problem(upgraded, 503, "catalog-unavailable")
    assert (after.json()["replicas"], after.json()["version"]) == (3, "16.13")


def test_an_unquoted_if_match_is_412_saying_etags_are_quoted(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = create(client, "orders")
        path = f"/v1/databases/{created['id']}"
        etag = client.get(path).headers["etag"]
        bare = etag.strip('"')
        problem = assert_problem(
            client.patch(path, json={"replicas": 3}, headers={"If-Match": bare}),
            412,
            "precondition-failed",
        )
        stale = assert_problem(
            client.patch(path, json={"replicas": 3}, headers={"If-Match": '"x-9"'}),
            412,
            "precondition-failed",
        )
        quoted = client.patch(path, json={"replicas": 3}, headers={"If-Match": etag})
    assert f"ETags are quoted: send If-Match: {etag} (quotes included)" in problem["detail"]
    assert "quoted" not in stale["detail"]
    assert quoted.status_code == 202, quoted.text


def test_a_version_not_in_the_catalog_suggests_the_nearest_of_its_major(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        response = client.post("/v1/databases", json=spec("orders", version="16"))
    problem = assert_problem(response, 422, "validation-failed")
    (error,) = problem["errors"]
    assert error["field"] == "version"
    suggested = error["message"].split("nearest offered: ")[1].split(", ")
    assert "16.13" in suggested
    assert all(name.startswith("16.") for name in suggested if name != "...")


def test_a_trailing_slash_answers_as_the_path_without_it(api: LiveApi) -> None:
    with api.client(api.key()) as client:
        created = client.post("/v1/databases/", json=spec("orders"))
        assert created.status_code == 202, created.text
        database_id = created.json()["id"]
        listed, slashed = client.get("/v1/databases"), client.get("/v1/databases/")
        one = client.get(f"/v1/databases/{database_id}/")
        ops = client.get(f"/v1/databases/{database_id}/operations/")
    assert slashed.status_code == listed.status_code == 200
    assert slashed.json() == listed.json()
    assert [item["id"] for item in listed.json()["items"]] == [database_id]
    assert one.status_code == 200 and one.json()["id"] == database_id
    assert ops.status_code == 200 and ops.json()["items"][0]["type"] == "create"

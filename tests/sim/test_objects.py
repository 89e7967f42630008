"""Object semantics through the official client: metadata, conflicts, patches, status."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from tests.sim.kube import DB_GROUP, DB_VERSION, NS, Kube, expect_error, postgres


def test_create_sets_uid_timestamp_resource_version_and_generation(kube: Kube) -> None:
    created = kube.create_db(postgres("orders"))
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1
    assert meta["namespace"] == NS
    fetched = kube.get_db("orders")
    assert fetched["metadata"]["uid"] == meta["uid"]


def test_every_write_gets_a_new_resource_version_from_one_global_counter(kube: Kube) -> None:
    first = kube.create_db(postgres("a"))
    secret = kube.core.create_namespaced_secret(NS, {"metadata": {"name": "s"}})
    second = kube.create_db(postgres("b"))
    versions = [
        int(first["metadata"]["resourceVersion"]),
        int(secret.metadata.resource_version),
        int(second["metadata"]["resourceVersion"]),
    ]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_creating_an_existing_object_is_409_already_exists(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(409, kube.create_db, postgres("orders"))
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'postgreses.kubedb.com "orders" already exists'
    assert status["details"] == {"name": "orders", "group": "kubedb.com", "kind": "postgreses"}


def test_reading_a_missing_object_is_404_not_found_with_details(kube: Kube) -> None:
    status = expect_error(404, kube.get_db, "nope")
    assert status["reason"] == "NotFound"
    assert status["message"] == 'postgreses.kubedb.com "nope" not found'
    assert status["details"]["name"] == "nope"
    core = expect_error(404, kube.core.read_namespaced_secret, "nope", NS)
    assert core["message"] == 'secrets "nope" not found'


def test_creating_in_a_missing_namespace_is_404_for_the_namespace(kube: Kube) -> None:
    status = expect_error(404, kube.create_db, postgres("orders"), namespace="nowhere")
    assert status["message"] == 'namespaces "nowhere" not found'


def test_replace_with_a_stale_resource_version_is_409_conflict(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    fresh = copy.deepcopy(ready)
    fresh["metadata"].setdefault("labels", {})["tier"] = "gold"
    kube.custom.replace_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", fresh
    )
    stale = copy.deepcopy(ready)
    stale["metadata"].setdefault("labels", {})["tier"] = "silver"
    status = expect_error(
        409,
        kube.custom.replace_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        stale,
    )
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]


def test_replace_of_a_custom_resource_without_resource_version_is_422(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    body = postgres("orders", replicas=2)
    status = expect_error(
        422,
        kube.custom.replace_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        body,
    )
    assert status["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_generation_bumps_on_spec_changes_only(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    generation = ready["metadata"]["generation"]
    patch = kube.custom.patch_namespaced_custom_object
    labelled = patch(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"metadata": {"labels": {"team": "a"}}}
    )
    assert labelled["metadata"]["generation"] == generation
    status = kube.custom.patch_namespaced_custom_object_status(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"status": {"observedGeneration": 99}}
    )
    assert status["metadata"]["generation"] == generation
    changed = patch(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"deletionPolicy": "WipeOut"}}
    )
    assert changed["metadata"]["generation"] == generation + 1


def test_a_patch_that_changes_nothing_keeps_the_resource_version(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    again = kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"replicas": 1}}
    )
    assert again["metadata"]["resourceVersion"] == ready["metadata"]["resourceVersion"]


def test_merge_patch_null_removes_a_field(kube: Kube) -> None:
    kube.create_db(postgres("orders", labels={"a": "1", "b": "2"}))
    patched = kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"metadata": {"labels": {"a": None}}}
    )
    assert patched["metadata"]["labels"] == {"b": "2"}


def test_json_patch_is_applied_and_a_failed_test_op_is_422(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    patched = kube.custom.patch_namespaced_custom_object(
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        ops,
        _content_type="application/json-patch+json",
    )
    assert patched["spec"]["replicas"] == 4
    status = expect_error(
        422,
        kube.custom.patch_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        [{"op": "test", "path": "/spec/replicas", "value": 1}],
        _content_type="application/json-patch+json",
    )
    assert "test failed" in status["message"]


def test_strategic_merge_patch_is_415_for_custom_resources(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(
        415,
        kube.custom.patch_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"spec": {"replicas": 2}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert status["reason"] == "UnsupportedMediaType"


def test_a_patch_carrying_a_stale_resource_version_is_409(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"metadata": {"labels": {"a": "b"}}}
    )
    stale = {
        "metadata": {"resourceVersion": ready["metadata"]["resourceVersion"]},
        "spec": {"replicas": 3},
    }
    status = expect_error(
        409,
        kube.custom.patch_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        stale,
    )
    assert status["reason"] == "Conflict"


def test_writes_to_the_object_ignore_status_and_status_writes_change_only_status(
    kube: Kube,
) -> None:
    ready = kube.ready_db(postgres("orders"))
    generation = ready["metadata"]["generation"]
    after_status = kube.custom.patch_namespaced_custom_object_status(
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"status": {"observedGeneration": 99}, "spec": {"replicas": 7}},
    )
    assert after_status["status"]["observedGeneration"] == 99
    assert after_status["spec"]["replicas"] == 1
    assert after_status["metadata"]["generation"] == generation
    main = kube.custom.patch_namespaced_custom_object(
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"status": {"observedGeneration": 5}, "spec": {"deletionPolicy": "WipeOut"}},
    )
    assert main["status"]["observedGeneration"] == 99
    assert main["spec"]["deletionPolicy"] == "WipeOut"


def test_status_is_dropped_on_create_of_a_custom_resource(kube: Kube) -> None:
    body = postgres("orders")
    body["status"] = {"phase": "Ready"}
    created = kube.create_db(body)
    assert "status" not in created or created["status"].get("phase") != "Ready"


def test_status_subresource_replace_checks_the_resource_version(kube: Kube) -> None:
    ready = kube.ready_db(postgres("orders"))
    body = copy.deepcopy(ready)
    body["status"]["observedGeneration"] = 42
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"metadata": {"labels": {"x": "y"}}}
    )
    status = expect_error(
        409,
        kube.custom.replace_namespaced_custom_object_status,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        body,
    )
    assert status["reason"] == "Conflict"
    fresh = kube.get_db("orders")
    fresh["status"]["observedGeneration"] = 42
    fresh["spec"]["replicas"] = 9
    replaced = kube.custom.replace_namespaced_custom_object_status(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", fresh
    )
    assert replaced["status"]["observedGeneration"] == 42
    assert replaced["spec"]["replicas"] == 1


def test_generate_name_creates_a_unique_name(kube: Kube) -> None:
    body = postgres("ignored")
    body["metadata"] = {"generateName": "orders-"}
    first = kube.create_db(body)
    second = kube.create_db(body)
    assert first["metadata"]["name"].startswith("orders-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_an_invalid_object_name_is_422(kube: Kube) -> None:
    status = expect_error(422, kube.create_db, postgres("Not_Valid"))
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_secrets_take_strategic_merge_patches_from_the_core_client(kube: Kube) -> None:
    kube.core.create_namespaced_secret(
        NS,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds", labels={"a": "1"}),
            string_data={"password": "x"},
        ),
    )
    patched = kube.core.patch_namespaced_secret("creds", NS, {"metadata": {"labels": {"b": "2"}}})
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert patched.type == "Opaque"
    assert patched.data == {"password": "eA=="}


def test_services_get_a_cluster_ip_and_can_be_listed(kube: Kube) -> None:
    body = client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
    )
    created = kube.core.create_namespaced_service(NS, body)
    assert created.spec.cluster_ip.startswith("10.96.")
    assert created.spec.ports[0].protocol == "TCP"
    names = [svc.metadata.name for svc in kube.core.list_namespaced_service(NS).items]
    assert names == ["web"]


def test_leases_support_the_optimistic_locking_leader_election_uses(kube: Kube) -> None:
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="status-sync"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = kube.coordination.create_namespaced_lease(NS, lease)
    created.spec.holder_identity = "b"
    replaced = kube.coordination.replace_namespaced_lease("status-sync", NS, created)
    assert replaced.spec.holder_identity == "b"
    created.spec.holder_identity = "c"  # still carries the old resourceVersion
    status = expect_error(
        409, kube.coordination.replace_namespaced_lease, "status-sync", NS, created
    )
    assert status["details"]["group"] == "coordination.k8s.io"


def test_cluster_scoped_catalog_is_preloaded_and_read_only_by_name(kube: Kube) -> None:
    catalog = kube.custom.list_cluster_custom_object(
        "catalog.kubedb.com", "v1alpha1", "postgresversions"
    )
    names = {item["metadata"]["name"] for item in catalog["items"]}
    assert {"16.4", "18.3"} <= names
    one = kube.custom.get_cluster_custom_object(
        "catalog.kubedb.com", "v1alpha1", "postgresversions", "16.4"
    )
    assert one["spec"]["version"] == "16.4"
    assert "namespace" not in one["metadata"]


def test_a_body_in_protobuf_is_415_unsupported_media_type(kube: Kube) -> None:
    request = urllib.request.Request(
        kube.sim.url + f"/api/v1/namespaces/{NS}/secrets",
        data=b"k8s\x00\x0a\x0c",
        method="POST",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    status = json.loads(caught.value.read())
    caught.value.close()
    assert caught.value.code == 415
    assert status["reason"] == "UnsupportedMediaType"

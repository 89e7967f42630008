"""The simulated KubeDB provisioner: Provisioning -> Ready, offshoots, deletion policies."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from services.sim import schemas
from tests.fixtures_sim import CRDS_DIR, SimCluster
from tests.sim.kube import (
    DB_GROUP,
    DB_VERSION,
    NS,
    Kube,
    conditions,
    expect_error,
    ops_request,
    postgres,
)

ENGINES: dict[str, tuple[str, dict[str, Any], str, int]] = {
    # plural: (kind, spec, default user, port)
    "postgreses": ("Postgres", {"version": "16.4"}, "postgres", 5432),
    "mysqls": ("MySQL", {"version": "8.4.3"}, "root", 3306),
    "mongodbs": ("MongoDB", {"version": "7.0.21"}, "root", 27017),
    "redises": ("Redis", {"version": "7.4.1"}, "default", 6379),
}


def _database(plural: str, name: str) -> dict[str, Any]:
    kind, spec, _, _ = ENGINES[plural]
    return {
        "apiVersion": "kubedb.com/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            **spec,
            "storage": {"resources": {"requests": {"storage": "1Gi"}}},
            "deletionPolicy": "WipeOut",
        },
    }


def test_a_new_postgres_is_provisioned_with_finalizer_conditions_and_observed_generation(
    kube: Kube,
) -> None:
    created = kube.create_db(postgres("orders"))
    assert "status" not in created
    provisioning = kube.wait_db_phase("orders", "Provisioning")
    assert provisioning["metadata"]["finalizers"] == ["kubedb.com"]
    assert conditions(provisioning) == {"ProvisioningStarted": "True"}
    ready = kube.wait_db_phase("orders", "Ready")
    assert conditions(ready) == {
        "ProvisioningStarted": "True",
        "ReplicaReady": "True",
        "AcceptingConnection": "True",
        "Ready": "True",
        "Provisioned": "True",
    }
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    assert ready["spec"]["authSecret"]["name"] == "orders-auth"


def test_the_webhook_defaults_policy_storage_type_replicas_and_resources(kube: Kube) -> None:
    body = postgres("orders")
    for field in ("deletionPolicy", "storageType", "replicas"):
        del body["spec"][field]
    created = kube.create_db(body)
    spec = created["spec"]
    assert spec["deletionPolicy"] == "Delete"
    assert spec["storageType"] == "Durable"
    assert spec["replicas"] == 1
    container = spec["podTemplate"]["spec"]["containers"][0]
    assert container["name"] == "postgres"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1024Mi"}


@pytest.mark.parametrize("plural", sorted(ENGINES))
def test_each_engine_gets_its_auth_secret_and_service(kube: Kube, plural: str) -> None:
    _, _, user, port = ENGINES[plural]
    db = kube.ready_db(_database(plural, "store"), plural=plural)
    secret = kube.core.read_namespaced_secret("store-auth", NS)
    assert secret.type == "kubernetes.io/basic-auth"
    assert base64.b64decode(secret.data["username"]).decode() == user
    assert len(base64.b64decode(secret.data["password"])) >= 12
    service = kube.core.read_namespaced_service("store", NS)
    assert [p.port for p in service.spec.ports] == [port]
    for meta in (secret.metadata, service.metadata):
        assert meta.labels["app.kubernetes.io/name"] == f"{plural}.kubedb.com"
        assert meta.labels["app.kubernetes.io/instance"] == "store"
        assert meta.labels["app.kubernetes.io/managed-by"] == "kubedb.com"
        assert meta.owner_references[0].uid == db["metadata"]["uid"]
        assert meta.owner_references[0].controller is True


def test_long_names_are_truncated_like_name_with_suffix(kube: Kube) -> None:
    name = "a" * 60
    kube.ready_db(postgres(name))
    secrets = [s.metadata.name for s in kube.core.list_namespaced_secret(NS).items]
    assert secrets == ["a" * 58 + "-auth"]


def test_an_out_of_band_spec_edit_bumps_generation_and_is_observed(
    sim: SimCluster, kube: Kube
) -> None:
    ready = kube.ready_db(postgres("orders"))
    edited = sim.edit("postgreses", NS, "orders", {"spec": {"replicas": 3}})
    assert edited["metadata"]["generation"] == ready["metadata"]["generation"] + 1

    def observed() -> dict[str, Any] | None:
        db = kube.get_db("orders")
        return db if db["status"]["observedGeneration"] == db["metadata"]["generation"] else None

    assert sim.wait_for(observed)["spec"]["replicas"] == 3


def test_an_out_of_band_edit_goes_through_validation(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    with pytest.raises(Exception, match="422") as caught:
        sim.edit("postgreses", NS, "orders", {"spec": {"deletionPolicy": "Sometimes"}})
    assert "Invalid" in str(caught.value)


def test_delete_policy_removes_the_service_and_keeps_the_secret(kube: Kube) -> None:
    kube.ready_db(postgres("orders", policy="Delete"))
    answer = kube.custom.delete_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders"
    )
    assert answer["metadata"]["deletionTimestamp"]
    kube.sim.wait_for(lambda: kube.db_gone("orders"))
    secret = kube.core.read_namespaced_secret("orders-auth", NS)
    assert not secret.metadata.owner_references
    expect_error(404, kube.core.read_namespaced_service, "orders", NS)


def test_halt_policy_keeps_the_secret(kube: Kube) -> None:
    kube.ready_db(postgres("orders", policy="Halt"))
    kube.custom.delete_namespaced_custom_object(DB_GROUP, DB_VERSION, NS, "postgreses", "orders")
    kube.sim.wait_for(lambda: kube.db_gone("orders"))
    assert kube.core.read_namespaced_secret("orders-auth", NS).metadata.name == "orders-auth"


def test_wipe_out_policy_deletes_the_secret_too(kube: Kube) -> None:
    kube.ready_db(postgres("orders", policy="WipeOut"))
    kube.custom.delete_namespaced_custom_object(DB_GROUP, DB_VERSION, NS, "postgreses", "orders")
    kube.sim.wait_for(lambda: kube.db_gone("orders"))
    expect_error(404, kube.core.read_namespaced_secret, "orders-auth", NS)
    expect_error(404, kube.core.read_namespaced_service, "orders", NS)


def test_do_not_terminate_refuses_the_delete_like_the_webhook(kube: Kube) -> None:
    kube.ready_db(postgres("orders", policy="DoNotTerminate"))
    status = expect_error(
        403,
        kube.custom.delete_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
    )
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'admission webhook "postgres.validators.kubedb.com" denied the request: '
        'postgres "demo/orders" can\'t be terminated. To delete, change spec.deletionPolicy'
    )
    assert kube.get_db("orders")["metadata"].get("deletionTimestamp") is None
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"deletionPolicy": "WipeOut"}}
    )
    kube.custom.delete_namespaced_custom_object(DB_GROUP, DB_VERSION, NS, "postgreses", "orders")
    kube.sim.wait_for(lambda: kube.db_gone("orders"))


def test_a_forced_phase_sets_critical_or_not_ready_conditions_and_back(
    sim: SimCluster, kube: Kube
) -> None:
    kube.ready_db(postgres("orders"))
    critical = sim.set_phase("postgreses", NS, "orders", "Critical")
    assert critical["status"]["phase"] == "Critical"
    assert conditions(critical)["ReplicaReady"] == "False"
    assert conditions(critical)["AcceptingConnection"] == "True"
    not_ready = sim.set_phase("postgreses", NS, "orders", "NotReady")
    assert conditions(not_ready)["AcceptingConnection"] == "False"
    sim.edit("postgreses", NS, "orders", {"metadata": {"labels": {"poke": "1"}}})
    assert kube.get_db("orders")["status"]["phase"] == "NotReady"
    back = sim.set_phase("postgreses", NS, "orders", "Ready")
    assert back["status"]["phase"] == "Ready"
    assert set(conditions(back).values()) == {"True"}


def test_halting_removes_the_service_and_resuming_brings_it_back(kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"halted": True}}
    )
    halted = kube.wait_db_phase("orders", "Halted")
    assert halted["spec"]["deletionPolicy"] == "Halt"
    expect_error(404, kube.core.read_namespaced_service, "orders", NS)
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"halted": False}}
    )
    kube.wait_db_phase("orders", "Ready")
    assert kube.core.read_namespaced_service("orders", NS).metadata.name == "orders"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("99.9", 'postgresversions.catalog.kubedb.com "99.9" not found'),
        ("10.20", "is using deprecated version 10.20"),
    ],
)
def test_the_webhook_refuses_unknown_or_deprecated_versions(
    kube: Kube, version: str, message: str
) -> None:
    status = expect_error(403, kube.create_db, postgres("orders", version=version))
    assert message in status["message"]


def test_storage_type_is_immutable(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(
        403,
        kube.custom.patch_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"spec": {"storageType": "Ephemeral", "deletionPolicy": "Delete"}},
    )
    assert "spec.storageType" in status["message"]


def test_deleting_a_namespace_waits_for_the_operator_to_release_databases(
    sim: SimCluster, kube: Kube
) -> None:
    kube.namespace("team")
    kube.ready_db(postgres("orders"), namespace="team")
    kube.core.delete_namespace("team")
    sim.wait_for(lambda: kube.db_gone("orders", namespace="team"))
    sim.wait_for(
        lambda: not [n for n in kube.core.list_namespace().items if n.metadata.name == "team"]
    )


def test_a_ready_or_halted_database_is_left_alone(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    kube.custom.patch_namespaced_custom_object(
        DB_GROUP, DB_VERSION, NS, "postgreses", "orders", {"spec": {"halted": True}}
    )
    kube.wait_db_phase("orders", "Halted")
    kube.ready_db(postgres("other"))
    settled = sim.wait_for(lambda: sim.stats()["operator_tasks"] == 0 and sim.stats())
    time.sleep(0.5)  # asserting that nothing happens needs a quiet interval
    assert sim.stats()["resource_version"] == settled["resource_version"]


def test_what_the_operator_writes_validates_strictly_against_the_crds(
    kube: Kube, crd_cache: Path
) -> None:
    cache = crd_cache
    registry = schemas.SchemaRegistry.load(CRDS_DIR, cache_dir=cache)
    kube.ready_db(postgres("orders"))
    kube.create_ops(
        ops_request(
            "PostgresOpsRequest",
            "scale",
            "orders",
            "HorizontalScaling",
            horizontalScaling={"replicas": 2},
        )
    )
    op = kube.wait_ops_phase("scale", "Successful")
    for obj in (kube.get_db("orders"), op):
        _, causes = registry.validate(obj, strict=True)
        assert causes == []

"""Schema validation against the real CRDs: the docs' examples pass, broken variants get 422."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.sim.kube import (
    DB_GROUP,
    DB_VERSION,
    NS,
    OPS_GROUP,
    OPS_VERSION,
    Kube,
    example,
    example_names,
    expect_error,
    postgres,
)


def _create(kube: Kube, body: dict[str, Any]) -> dict[str, Any]:
    group, version = body["apiVersion"].split("/")
    plural = {"Postgres": "postgreses", "PostgresOpsRequest": "postgresopsrequests"}[body["kind"]]
    namespace = body["metadata"].get("namespace", NS)
    result: dict[str, Any] = kube.custom.create_namespaced_custom_object(
        group, version, namespace, plural, body
    )
    return result


@pytest.mark.parametrize("name", example_names())
def test_every_example_manifest_is_accepted(kube: Kube, name: str) -> None:
    # On 17.9, from which the docs' UpdateVersion example (targetVersion "18.3") is allowed:
    # the OpsRequest webhook checks the target against the database's version at create.
    for db in ("pg", "pg-ha-cluster"):
        kube.create_db(postgres(db, version="17.9"))
    manifest = example(name)
    created = _create(kube, manifest)
    assert created["kind"] == manifest["kind"]
    assert (
        created["spec"]["type" if "OpsRequest" in manifest["kind"] else "version"]
        == (manifest["spec"]["type" if "OpsRequest" in manifest["kind"] else "version"])
    )


def _without_version(body: dict[str, Any]) -> None:
    del body["spec"]["version"]


def _bad_policy(body: dict[str, Any]) -> None:
    body["spec"]["deletionPolicy"] = "Never"


def _replicas_as_text(body: dict[str, Any]) -> None:
    body["spec"]["replicas"] = "three"


def _bad_storage_type(body: dict[str, Any]) -> None:
    body["spec"]["storageType"] = "Floppy"


BROKEN_DATABASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "missing version": (_without_version, "spec.version"),
    "unknown deletion policy": (_bad_policy, "spec.deletionPolicy"),
    "replicas not an integer": (_replicas_as_text, "spec.replicas"),
    "unknown storage type": (_bad_storage_type, "spec.storageType"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_DATABASES))
def test_a_broken_database_manifest_is_422_invalid_with_its_cause(kube: Kube, case: str) -> None:
    body = example("quick-postgres-v1.yaml")
    breaker, field = BROKEN_DATABASES[case]
    breaker(body)
    status = expect_error(422, _create, kube, body)
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Postgres"
    assert status["details"]["group"] == "kubedb.com"
    assert status["details"]["name"] == "quick-postgres"
    assert field in [cause["field"] for cause in status["details"]["causes"]]
    assert status["message"].startswith('Postgres.kubedb.com "quick-postgres" is invalid: ')


@pytest.mark.parametrize(
    ("example_name", "breaker", "field"),
    [
        ("pg-scale-up.yaml", lambda b: b["spec"].update(type="Teleport"), "spec.type"),
        (
            "vol-exp-ha-cluster.yaml",
            lambda b: b["spec"]["volumeExpansion"].pop("mode"),
            "spec.volumeExpansion.mode",
        ),
        ("upgrade_version.yaml", lambda b: b["spec"].pop("databaseRef"), "spec.databaseRef"),
        ("pg-vertical-scaling.yaml", lambda b: b["spec"].update(apply="Sometimes"), "spec.apply"),
    ],
)
def test_a_broken_ops_request_is_422_invalid(
    kube: Kube, example_name: str, breaker: Callable[[dict[str, Any]], None], field: str
) -> None:
    # On 17.9, from which the docs' UpdateVersion example (targetVersion "18.3") is allowed:
    # the OpsRequest webhook checks the target against the database's version at create.
    for db in ("pg", "pg-ha-cluster"):
        kube.create_db(postgres(db, version="17.9"))
    body = example(example_name)
    breaker(body)
    status = expect_error(422, _create, kube, body)
    assert field in [cause["field"] for cause in status["details"]["causes"]]


def test_updates_are_validated_too(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(
        422,
        kube.custom.patch_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"spec": {"deletionPolicy": "Maybe"}},
    )
    assert status["details"]["causes"][0]["reason"] == "FieldValueNotSupported"


@pytest.mark.parametrize("constant", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_not_json(kube: Kube, constant: float) -> None:
    # Python's json writes and reads them; the API server's Go decoder refuses them.
    body = postgres("orders")
    body["spec"]["replicas"] = constant
    status = expect_error(400, _create, kube, body)
    assert status["reason"] == "BadRequest"
    assert "is not a JSON value" in status["message"]
    expect_error(404, kube.get_db, "orders")


def test_status_writes_are_validated_against_the_status_schema(kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    status = expect_error(
        422,
        kube.custom.patch_namespaced_custom_object_status,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        "orders",
        {"status": {"phase": "Exploded"}},
    )
    assert "status.phase" in [cause["field"] for cause in status["details"]["causes"]]


def test_unknown_fields_are_pruned_or_refused_under_strict_field_validation(kube: Kube) -> None:
    body = postgres("orders")
    body["spec"]["flavour"] = "vanilla"
    created = kube.create_db(body)
    assert "flavour" not in created["spec"]
    strict = copy.deepcopy(body)
    strict["metadata"]["name"] = "strict"
    status = expect_error(
        400,
        kube.custom.create_namespaced_custom_object,
        DB_GROUP,
        DB_VERSION,
        NS,
        "postgreses",
        strict,
        field_validation="Strict",
    )
    assert status["reason"] == "BadRequest"
    assert status["message"] == (
        'Postgres in version "v1" cannot be handled as a Postgres: '
        'strict decoding error: unknown field "spec.flavour"'
    )


def test_schema_defaults_are_applied_on_create(kube: Kube) -> None:
    created = kube.create_db(postgres("orders"))
    assert created["spec"]["healthChecker"] == {
        "failureThreshold": 1,
        "periodSeconds": 10,
        "timeoutSeconds": 10,
    }


def test_ops_requests_validate_against_their_own_schema(kube: Kube) -> None:
    kube.create_db(postgres("pg"))
    body = example("pg-scale-up.yaml")
    body["spec"]["horizontalScaling"]["replicas"] = "five"
    status = expect_error(
        422,
        kube.custom.create_namespaced_custom_object,
        OPS_GROUP,
        OPS_VERSION,
        NS,
        "postgresopsrequests",
        body,
    )
    assert status["details"]["kind"] == "PostgresOpsRequest"

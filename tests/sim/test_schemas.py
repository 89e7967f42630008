"""The CRD schema registry against the real KubeDB CRDs and the docs' example manifests."""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.sim import schemas

KUBEDB_DIR = Path(
    os.environ.get("DBAAS_KUBEDB_DIR")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "kubedb"
)
CRDS = KUBEDB_DIR / "crds"
EXAMPLES = sorted((KUBEDB_DIR / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def registry() -> schemas.SchemaRegistry:
    return schemas.SchemaRegistry.load(CRDS)


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KUBEDB_DIR / "examples" / name).read_text())
    return loaded


def postgres(**spec: Any) -> dict[str, Any]:
    obj = example("quick-postgres-v1.yaml")
    obj["spec"].update(spec)
    return obj


def causes_by_field(causes: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for cause in causes:
        grouped.setdefault(cause["field"], []).append(cause)
    return grouped


# --- discovery ------------------------------------------------------------------------------


def test_all_twelve_crds_are_loaded_with_their_storage_version(
    registry: schemas.SchemaRegistry,
) -> None:
    versions = {(r.group, r.kind): r.version for r in registry.resources()}
    assert len(versions) == 12
    for kind in ("Postgres", "MySQL", "MongoDB", "Redis"):
        assert versions[("kubedb.com", kind)] == "v1"
        assert versions[("ops.kubedb.com", f"{kind}OpsRequest")] == "v1alpha1"
        assert versions[("catalog.kubedb.com", f"{kind}Version")] == "v1alpha1"


def test_postgres_discovery_facts_match_the_crd(registry: schemas.SchemaRegistry) -> None:
    resource = registry.lookup("kubedb.com/v1", "Postgres")
    assert resource == schemas.CrdResource(
        group="kubedb.com",
        version="v1",
        kind="Postgres",
        plural="postgreses",
        singular="postgres",
        short_names=("pg",),
        categories=("datastore", "kubedb", "appscode", "all"),
        namespaced=True,
        has_status=True,
        served_versions=("v1", "v1alpha2"),
        list_kind="PostgresList",
        columns=(
            ("Version", "string", ".spec.version"),
            ("Status", "string", ".status.phase"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ),
    )
    assert resource.api_version == "kubedb.com/v1"


def test_catalog_kinds_are_cluster_scoped_without_status(
    registry: schemas.SchemaRegistry,
) -> None:
    resource = registry.lookup_plural("catalog.kubedb.com", "postgresversions")
    assert resource is not None
    assert (resource.kind, resource.namespaced, resource.has_status) == (
        "PostgresVersion",
        False,
        False,
    )
    assert resource.short_names == ("pgversion",)


def test_lookup_accepts_served_versions_and_refuses_unknown_ones(
    registry: schemas.SchemaRegistry,
) -> None:
    assert registry.lookup("kubedb.com/v1alpha2", "Redis") is not None
    assert registry.lookup("kubedb.com/v2", "Redis") is None
    assert registry.lookup("kubedb.com/v1", "Cassandra") is None
    assert registry.lookup_plural("kubedb.com", "pg") is None  # short names are client-side


def test_an_empty_registry_serves_nothing() -> None:
    empty = schemas.SchemaRegistry.empty()
    assert empty.resources() == []
    assert empty.lookup("kubedb.com/v1", "Postgres") is None
    with pytest.raises(schemas.UnknownKind):
        empty.validate(example("quick-postgres-v1.yaml"))


def test_validating_a_kind_no_crd_serves_raises_unknown_kind(
    registry: schemas.SchemaRegistry,
) -> None:
    with pytest.raises(schemas.UnknownKind):
        registry.validate({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}})


# --- valid objects --------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_docs_example_validates_without_causes(
    registry: schemas.SchemaRegistry, path: Path
) -> None:
    obj = yaml.safe_load(path.read_text())
    validated, causes = registry.validate(obj, strict=True)
    assert causes == []
    assert validated["metadata"] == obj["metadata"]


def test_examples_are_present() -> None:
    assert len(EXAMPLES) == 5


def test_quantities_accept_integers_and_strings(registry: schemas.SchemaRegistry) -> None:
    as_int = postgres(storage={"resources": {"requests": {"storage": 10 * 1024**3}}})
    as_text = postgres(storage={"resources": {"requests": {"storage": "10Gi"}}})
    ops = example("vol-exp-ha-cluster.yaml")
    ops["spec"]["volumeExpansion"]["postgres"] = 12 * 1024**3
    for obj in (as_int, as_text, ops):
        assert registry.validate(obj)[1] == []


def test_validation_does_not_mutate_the_callers_object(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = postgres(surprise=True)
    before = copy.deepcopy(obj)
    registry.validate(obj)
    assert obj == before


# --- causes ---------------------------------------------------------------------------------


def test_an_unsupported_deletion_policy_lists_the_supported_values(
    registry: schemas.SchemaRegistry,
) -> None:
    _, causes = registry.validate(postgres(deletionPolicy="Maybe"))
    assert causes == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Maybe": supported values: '
            '"Halt", "Delete", "WipeOut", "DoNotTerminate"',
            "field": "spec.deletionPolicy",
        }
    ]


def test_a_string_for_replicas_is_a_type_error(registry: schemas.SchemaRegistry) -> None:
    _, causes = registry.validate(postgres(replicas="three"))
    assert causes == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": spec.replicas in body must be of type '
            'integer: "string"',
            "field": "spec.replicas",
        }
    ]


def test_a_missing_version_is_required(registry: schemas.SchemaRegistry) -> None:
    obj = postgres()
    del obj["spec"]["version"]
    _, causes = registry.validate(obj)
    assert causes == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.version"}
    ]


def test_several_errors_are_all_reported(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(deletionPolicy="Maybe", replicas="three", storageType="Sometimes")
    del obj["spec"]["version"]
    grouped = causes_by_field(registry.validate(obj)[1])
    assert sorted(grouped) == [
        "spec.deletionPolicy",
        "spec.replicas",
        "spec.storageType",
        "spec.version",
    ]


def test_an_ops_request_without_a_type_is_refused(registry: schemas.SchemaRegistry) -> None:
    obj = example("upgrade_version.yaml")
    del obj["spec"]["type"]
    _, causes = registry.validate(obj)
    assert causes == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.type"}
    ]


def test_an_ops_request_with_an_unknown_type_is_refused(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = example("upgrade_version.yaml")
    obj["spec"]["type"] = "Upgrade"
    (cause,) = registry.validate(obj)[1]
    assert cause["field"] == "spec.type"
    assert cause["reason"] == "FieldValueNotSupported"
    assert cause["message"].startswith('Unsupported value: "Upgrade": supported values: ')
    assert '"UpdateVersion"' in cause["message"] and '"StorageMigration"' in cause["message"]


def test_an_ops_request_without_a_database_ref_is_refused(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = example("pg-scale-up.yaml")
    del obj["spec"]["databaseRef"]
    assert causes_by_field(registry.validate(obj)[1]).keys() == {"spec.databaseRef"}


def test_volume_expansion_requires_a_mode(registry: schemas.SchemaRegistry) -> None:
    obj = example("vol-exp-ha-cluster.yaml")
    del obj["spec"]["volumeExpansion"]["mode"]
    _, causes = registry.validate(obj)
    assert causes == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.volumeExpansion.mode",
        }
    ]


def test_volume_expansion_refuses_an_unknown_mode(registry: schemas.SchemaRegistry) -> None:
    obj = example("vol-exp-ha-cluster.yaml")
    obj["spec"]["volumeExpansion"]["mode"] = "Live"
    _, causes = registry.validate(obj)
    assert causes == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Live": supported values: "Offline", "Online"',
            "field": "spec.volumeExpansion.mode",
        }
    ]


def test_a_malformed_quantity_fails_the_quantity_pattern(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = example("vol-exp-ha-cluster.yaml")
    obj["spec"]["volumeExpansion"]["postgres"] = "twelve gigs"
    (cause,) = registry.validate(obj)[1]
    assert cause["field"] == "spec.volumeExpansion.postgres"
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith(
        'Invalid value: "twelve gigs": spec.volumeExpansion.postgres in body should match \'^'
    )


def test_a_boolean_quantity_is_neither_int_nor_string(registry: schemas.SchemaRegistry) -> None:
    obj = example("vol-exp-ha-cluster.yaml")
    obj["spec"]["volumeExpansion"]["postgres"] = True
    (cause,) = registry.validate(obj)[1]
    assert cause == {
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "boolean": spec.volumeExpansion.postgres in body must be '
        'of type integer,string: "boolean"',
        "field": "spec.volumeExpansion.postgres",
    }


def test_array_items_are_named_by_index(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(podTemplate={"spec": {"containers": [{"name": "postgres"}, {"image": "x"}]}})
    (cause,) = registry.validate(obj)[1]
    assert cause["field"] == "spec.podTemplate.spec.containers[1].name"
    assert cause["reason"] == "FieldValueRequired"


def test_minimum_constraints_are_enforced(registry: schemas.SchemaRegistry) -> None:
    mysql = {
        "apiVersion": "kubedb.com/v1",
        "kind": "MySQL",
        "metadata": {"name": "my", "namespace": "demo"},
        "spec": {
            "version": "8.4.8",
            "topology": {"mode": "SemiSync", "semiSync": {"sourceWaitForReplicaCount": 0}},
        },
    }
    (cause,) = registry.validate(mysql)[1]
    assert cause == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 0: spec.topology.semiSync.sourceWaitForReplicaCount in body "
        "should be greater than or equal to 1",
        "field": "spec.topology.semiSync.sourceWaitForReplicaCount",
    }


def test_date_time_fields_must_be_rfc3339(registry: schemas.SchemaRegistry) -> None:
    condition = {"type": "Ready", "status": "True", "lastTransitionTime": "yesterday"}
    obj = postgres()
    obj["status"] = {"phase": "Ready", "conditions": [condition]}
    (cause,) = registry.validate(obj)[1]
    assert cause["field"] == "status.conditions[0].lastTransitionTime"
    assert cause["reason"] == "FieldValueTypeInvalid"
    assert "must be of type date-time" in cause["message"]
    condition["lastTransitionTime"] = "2026-07-24T10:00:00Z"
    assert registry.validate(obj)[1] == []


def test_an_unknown_status_phase_is_refused(registry: schemas.SchemaRegistry) -> None:
    obj = postgres()
    obj["status"] = {"phase": "Happy"}
    (cause,) = registry.validate(obj)[1]
    assert (cause["field"], cause["reason"]) == ("status.phase", "FieldValueNotSupported")


# --- metadata -------------------------------------------------------------------------------


def test_a_name_that_is_not_a_dns_name_is_refused(registry: schemas.SchemaRegistry) -> None:
    obj = postgres()
    obj["metadata"]["name"] = "Orders_DB"
    causes = registry.validate(obj)[1]
    assert {c["field"] for c in causes} == {"metadata.name"}
    assert any("RFC 1123 subdomain" in c["message"] for c in causes)


def test_the_postgres_crd_caps_names_at_63_characters(registry: schemas.SchemaRegistry) -> None:
    obj = postgres()
    obj["metadata"]["name"] = "a" * 64
    (cause,) = registry.validate(obj)[1]
    assert cause == {
        "reason": "FieldValueTooLong",
        "message": "Too long: may not be more than 63 bytes",
        "field": "metadata.name",
    }


def test_generate_name_stands_in_for_a_missing_name(registry: schemas.SchemaRegistry) -> None:
    obj = example("pg-scale-up.yaml")
    del obj["metadata"]["name"]
    (cause,) = registry.validate(obj)[1]
    assert cause == {
        "reason": "FieldValueRequired",
        "message": "Required value: name or generateName is required",
        "field": "metadata.name",
    }
    obj["metadata"]["generateName"] = "pg-scale-"
    assert registry.validate(obj)[1] == []


def test_cluster_scoped_objects_refuse_a_namespace(registry: schemas.SchemaRegistry) -> None:
    version = {
        "apiVersion": "catalog.kubedb.com/v1alpha1",
        "kind": "RedisVersion",
        "metadata": {"name": "7.4.6", "namespace": "demo"},
        "spec": {
            "version": "7.4.6",
            "db": {"image": "redis:7.4.6"},
            "coordinator": {"image": "c"},
            "exporter": {"image": "e"},
            "podSecurityPolicies": {"databasePolicyName": "redis-db"},
        },
    }
    (cause,) = registry.validate(version)[1]
    assert (cause["field"], cause["reason"]) == ("metadata.namespace", "FieldValueForbidden")


def test_invalid_label_values_are_refused(registry: schemas.SchemaRegistry) -> None:
    obj = postgres()
    obj["metadata"]["labels"] = {"team": "data platform", "app.kubernetes.io/name": "pg"}
    (cause,) = registry.validate(obj)[1]
    assert cause["field"] == "metadata.labels"
    assert cause["message"].startswith('Invalid value: "data platform": a valid label')


# --- pruning and defaulting -----------------------------------------------------------------


def test_unknown_fields_are_pruned_silently_by_default(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(surprise=1)
    obj["spec"]["storage"]["sizeHint"] = "big"
    obj["metadata"]["colour"] = "blue"
    obj["metadata"]["labels"] = {"team": "data"}
    obj["extra"] = True
    validated, causes = registry.validate(obj)
    assert causes == []
    assert "surprise" not in validated["spec"]
    assert "sizeHint" not in validated["spec"]["storage"]
    assert validated["metadata"] == {
        "name": "quick-postgres",
        "namespace": "demo",
        "labels": {"team": "data"},
    }
    assert "extra" not in validated


def test_strict_validation_reports_each_unknown_field(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(surprise=1)
    obj["metadata"]["colour"] = "blue"
    obj["spec"]["storage"]["resources"]["requests"]["storage"] = "2Gi"
    obj["spec"]["storage"]["sizeHint"] = "big"
    _, causes = registry.validate(obj, strict=True)
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "message": f'unknown field "{path}"',
            "field": path,
        }
        for path in ("metadata.colour", "spec.storage.sizeHint", "spec.surprise")
    ]


def test_check_lists_pruned_fields_for_warnings(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(podTemplate={"spec": {"containers": [{"name": "postgres", "colour": "red"}]}})
    result = registry.check(obj)
    assert result.causes == []
    assert result.unknown_fields == ["spec.podTemplate.spec.containers[0].colour"]
    assert result.obj["spec"]["podTemplate"]["spec"]["containers"] == [{"name": "postgres"}]


def test_preserve_unknown_fields_keeps_arbitrary_content(
    registry: schemas.SchemaRegistry,
) -> None:
    version = {
        "apiVersion": "catalog.kubedb.com/v1alpha1",
        "kind": "PostgresVersion",
        "metadata": {"name": "16.13"},
        "spec": {
            "version": "16.13",
            "db": {"image": "ghcr.io/appscode-images/postgres:16.13-alpine"},
            "coordinator": {"image": "c"},
            "exporter": {"image": "e"},
            "podSecurityPolicies": {"databasePolicyName": "postgres-db"},
            "ui": [{"name": "pgadmin", "values": {"anything": {"goes": [1, "two"]}}}],
        },
    }
    validated, causes = registry.validate(version, strict=True)
    assert causes == []
    assert validated["spec"]["ui"][0]["values"] == {"anything": {"goes": [1, "two"]}}


def test_schema_defaults_are_applied_like_the_apiserver(
    registry: schemas.SchemaRegistry,
) -> None:
    ops, _ = registry.validate(example("upgrade_version.yaml"))
    assert ops["spec"]["apply"] == "IfReady"
    assert ops["spec"]["maxRetries"] == 1
    db, _ = registry.validate(postgres())
    assert db["spec"]["healthChecker"] == {
        "failureThreshold": 1,
        "periodSeconds": 10,
        "timeoutSeconds": 10,
    }
    assert db["spec"]["allowedSchemas"] == {"namespaces": {"from": "Same"}}
    assert "podTemplate" not in db["spec"]  # no default for the parent, so none for children


def test_explicit_values_win_over_defaults(registry: schemas.SchemaRegistry) -> None:
    obj = example("upgrade_version.yaml")
    obj["spec"].update(apply="Always", maxRetries=3)
    validated, _ = registry.validate(obj)
    assert (validated["spec"]["apply"], validated["spec"]["maxRetries"]) == ("Always", 3)


def test_nested_defaults_fill_objects_the_user_started(registry: schemas.SchemaRegistry) -> None:
    obj = postgres(healthChecker={"periodSeconds": 30})
    validated, _ = registry.validate(obj)
    assert validated["spec"]["healthChecker"] == {
        "periodSeconds": 30,
        "failureThreshold": 1,
        "timeoutSeconds": 10,
    }
    obj = postgres(podTemplate={"spec": {"containers": [{"name": "postgres", "ports": [{}]}]}})
    validated, causes = registry.validate(obj)
    port = validated["spec"]["podTemplate"]["spec"]["containers"][0]["ports"][0]
    assert port == {"protocol": "TCP"}
    assert [c["field"] for c in causes] == [
        "spec.podTemplate.spec.containers[0].ports[0].containerPort"
    ]


def test_nulls_are_pruned_or_defaulted_unless_nullable(registry: schemas.SchemaRegistry) -> None:
    ops = example("upgrade_version.yaml")
    ops["spec"]["apply"] = None
    ops["spec"]["timeout"] = None
    validated, causes = registry.validate(ops)
    assert causes == []
    assert validated["spec"]["apply"] == "IfReady"
    assert "timeout" not in validated["spec"]
    mongo = {
        "apiVersion": "kubedb.com/v1",
        "kind": "MongoDB",
        "metadata": {"name": "mg", "namespace": "demo"},
        "spec": {"version": "8.0.17", "arbiter": None},
    }
    validated, causes = registry.validate(mongo)
    assert causes == []
    assert validated["spec"]["arbiter"] is None


# --- loading and speed ----------------------------------------------------------------------


def test_a_cache_dir_serves_parsed_crds_until_the_file_changes(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    shutil.copy(CRDS / "catalog.kubedb.com_redisversions.yaml", crds)
    cache = tmp_path / "cache"
    first = schemas.SchemaRegistry.load(crds, cache_dir=cache)
    (cached,) = cache.glob("*.json")
    documents = json.loads(cached.read_text())
    documents[0]["spec"]["names"]["shortNames"] = ["from-cache"]
    cached.write_text(json.dumps(documents))

    second = schemas.SchemaRegistry.load(crds, cache_dir=cache)
    assert [r.short_names for r in first.resources()] == [("rdversion",)]
    assert [r.short_names for r in second.resources()] == [("from-cache",)]

    (crds / "catalog.kubedb.com_redisversions.yaml").write_bytes(
        (CRDS / "catalog.kubedb.com_redisversions.yaml").read_bytes() + b"\n"
    )
    third = schemas.SchemaRegistry.load(crds, cache_dir=cache)
    assert [r.short_names for r in third.resources()] == [("rdversion",)]
    assert len(list(cache.glob("*.json"))) == 1


def test_validating_a_postgres_object_takes_well_under_a_millisecond(
    registry: schemas.SchemaRegistry,
) -> None:
    # A regression guard with a wide margin: ~0.16 ms per object on the build machine.
    obj = postgres(
        replicas=3,
        podTemplate={
            "spec": {
                "containers": [
                    {"name": "postgres", "resources": {"requests": {"cpu": "500m"}}},
                ]
            }
        },
    )
    registry.validate(obj)
    started = time.perf_counter()
    for _ in range(500):
        registry.validate(obj)
    assert (time.perf_counter() - started) / 500 < 0.005


def test_embedded_resources_keep_their_type_and_object_meta() -> None:
    crd = {
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.com",
            "names": {"kind": "Wrapper", "plural": "wrappers"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "template": {
                                            "type": "object",
                                            "x-kubernetes-embedded-resource": True,
                                            "properties": {"data": {"type": "string"}},
                                        }
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    registry = schemas.SchemaRegistry([crd])
    template = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "inner", "shoeSize": 9},
        "data": "x",
        "extra": 1,
    }
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Wrapper",
        "metadata": {"name": "w"},
        "spec": {"template": template},
    }
    result = registry.check(obj)
    assert result.causes == []
    assert result.obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "inner"},
        "data": "x",
    }
    assert result.unknown_fields == ["spec.template.metadata.shoeSize", "spec.template.extra"]
    resource = registry.lookup_plural("example.com", "wrappers")
    assert resource is not None
    assert (resource.singular, resource.list_kind, resource.has_status) == (
        "wrapper",
        "WrapperList",
        False,
    )


def test_metadata_that_is_not_an_object_is_a_type_error(
    registry: schemas.SchemaRegistry,
) -> None:
    obj = postgres()
    obj["metadata"] = "quick-postgres"
    (cause,) = registry.validate(obj)[1]
    assert (cause["field"], cause["reason"]) == ("metadata", "FieldValueTypeInvalid")

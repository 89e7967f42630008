from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from services.domain import backups, errors, planning, specs
from services.domain.engines import Engine
from services.domain.planning import OperationType, PlannedOperation
from services.domain.specs import DatabaseSpec, validate_create, validate_patch
from services.domain.versions import CatalogVersion

PG_UPGRADES = (">= 16.1, <= 17.9",)


def version(
    engine: str, name: str, *, deprecated: bool = False, allow: tuple[str, ...] = ()
) -> CatalogVersion:
    return CatalogVersion(
        engine=engine,
        name=name,
        version=name.split("-")[0],
        deprecated=deprecated,
        distribution="Official",
        allowlist=allow,
        group_allowlist=allow,
    )


CATALOG: Mapping[str, Sequence[CatalogVersion]] = {
    "postgres": [
        version("postgres", "16.1", allow=PG_UPGRADES),
        version("postgres", "16.4", allow=PG_UPGRADES),
        version("postgres", "17.2", allow=(">= 17.2, <= 17.9",)),
        version("postgres", "18.3"),
        version("postgres", "10.23", deprecated=True),
    ],
    "mysql": [version("mysql", "8.0.35"), version("mysql", "8.4.3")],
    "mongodb": [version("mongodb", "7.0.21"), version("mongodb", "8.0.10")],
    "redis": [
        version("redis", "7.4.1"),
        version("redis", "7.2.4", deprecated=True),
        version("redis", "8.2.2"),
    ],
}


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "orders",
        "engine": "postgres",
        "version": "16.1",
        "storage": "10Gi",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def create_errors(request: object) -> list[errors.FieldError]:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_create(request, catalog=CATALOG)
    return list(caught.value.errors)


def create_codes(request: object) -> dict[str, str]:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_create(request, catalog=CATALOG)
    return caught.value.codes()


def spec(**fields: Any) -> DatabaseSpec:
    base: dict[str, Any] = {
        "name": "orders",
        "engine": Engine.POSTGRES,
        "version": "16.1",
        "replicas": 1,
        "storage": "10Gi",
    }
    base.update(fields)
    return DatabaseSpec(**base)


def patch_codes(current: DatabaseSpec, request: object) -> dict[str, str]:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_patch(current, request, catalog=CATALOG)
    return caught.value.codes()


# -- create: accepted ----------------------------------------------------------------------


def test_a_minimal_create_gets_defaults() -> None:
    result = validate_create(body(), catalog=CATALOG)
    assert result == DatabaseSpec(
        name="orders",
        engine=Engine.POSTGRES,
        version="16.1",
        replicas=1,
        storage="10Gi",
        cpu=None,
        memory=None,
        deletion_policy="Delete",
        drift_policy="correct",
    )


def test_a_full_create_keeps_every_value_as_given() -> None:
    result = validate_create(
        body(
            engine="mysql",
            version="8.4.3",
            replicas=3,
            storage="20480Mi",
            resources={"cpu": "1500m", "memory": "2Gi"},
            deletion_policy="WipeOut",
            drift_policy="report",
        ),
        catalog=CATALOG,
    )
    assert result.engine is Engine.MYSQL
    assert (result.replicas, result.storage, result.cpu, result.memory) == (
        3,
        "20480Mi",
        "1500m",
        "2Gi",
    )
    assert (result.deletion_policy, result.drift_policy) == ("WipeOut", "report")


@pytest.mark.parametrize(
    ("engine", "version_name", "replicas"),
    [
        ("postgres", "17.2", 1),
        ("postgres", "17.2", 2),
        ("postgres", "17.2", 9),
        ("mysql", "8.0.35", 1),
        ("mysql", "8.0.35", 3),
        ("mysql", "8.0.35", 9),
        ("mongodb", "7.0.21", 1),
        ("mongodb", "7.0.21", 3),
        ("mongodb", "7.0.21", 7),
        ("redis", "7.4.1", 1),
        ("redis", "7.4.1", 2),
        ("redis", "7.4.1", 5),
    ],
)
def test_replica_counts_within_the_engine_bounds_are_accepted(
    engine: str, version_name: str, replicas: int
) -> None:
    result = validate_create(
        body(engine=engine, version=version_name, replicas=replicas), catalog=CATALOG
    )
    assert result.replicas == replicas


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage", "1Gi"),
        ("storage", "64Ti"),
        ("storage", "1073741824"),
        ("storage", "1.5Gi"),
        ("cpu", "100m"),
        ("cpu", "0.1"),
        ("cpu", "64"),
        ("cpu", "2"),
        ("memory", "128Mi"),
        ("memory", "512Gi"),
        ("memory", "1e9"),
    ],
)
def test_quantities_on_the_bounds_are_accepted(field: str, value: str) -> None:
    if field == "storage":
        request = body(storage=value)
    else:
        request = body(resources={field: value})
    result = validate_create(request, catalog=CATALOG)
    assert getattr(result, field) == value


def test_null_resources_mean_kubedb_defaults() -> None:
    result = validate_create(body(resources=None), catalog=CATALOG)
    assert (result.cpu, result.memory) == (None, None)
    result = validate_create(body(resources={"cpu": None, "memory": "1Gi"}), catalog=CATALOG)
    assert (result.cpu, result.memory) == (None, "1Gi")


def test_an_end_of_life_version_is_still_accepted() -> None:
    catalog = {"postgres": [dataclasses.replace(CATALOG["postgres"][0], end_of_life=True)]}
    assert validate_create(body(), catalog=catalog).version == "16.1"


# -- create: refused -----------------------------------------------------------------------


@pytest.mark.parametrize("request_body", [None, [], ["name"], "orders", 3, True, 1.5])
def test_a_body_that_is_not_an_object_is_one_invalid_type_error(request_body: object) -> None:
    found = create_errors(request_body)
    assert [(e.field, e.code) for e in found] == [("", errors.INVALID_TYPE)]
    assert "JSON object" in found[0].message


def test_an_empty_object_lists_every_required_field() -> None:
    assert create_codes({}) == {
        "name": errors.REQUIRED,
        "engine": errors.REQUIRED,
        "version": errors.REQUIRED,
        "storage": errors.REQUIRED,
    }


def test_every_problem_is_reported_at_once() -> None:
    codes = create_codes(
        {
            "name": "Orders_DB",
            "engine": "postgres",
            "version": "99.0",
            "replicas": "3",
            "storage": "10GB",
            "resources": {"cpu": "lots", "memory": "64Mi", "gpu": "1"},
            "deletion_policy": "Keep",
            "drift_policy": 1,
            "id": "x",
            "status": {},
        }
    )
    assert codes == {
        "id": errors.UNKNOWN_FIELD,
        "status": errors.UNKNOWN_FIELD,
        "name": errors.INVALID_NAME,
        "version": errors.UNKNOWN_VERSION,
        "replicas": errors.INVALID_TYPE,
        "storage": errors.INVALID_QUANTITY,
        "resources.gpu": errors.UNKNOWN_FIELD,
        "resources.cpu": errors.INVALID_QUANTITY,
        "resources.memory": errors.OUT_OF_RANGE,
        "deletion_policy": errors.INVALID_CHOICE,
        "drift_policy": errors.INVALID_TYPE,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 5),
        ("name", ["orders"]),
        ("engine", 1),
        ("version", 16.1),
        ("storage", 10),
        ("replicas", True),
        ("replicas", False),
        ("replicas", "3"),
        ("replicas", 3.0),
        ("replicas", None),
        ("replicas", [3]),
        ("resources", "1Gi"),
        ("resources", ["cpu"]),
        ("deletion_policy", None),
        ("deletion_policy", True),
        ("drift_policy", {"mode": "report"}),
    ],
)
def test_types_are_strict(field: str, value: object) -> None:
    assert create_codes(body(**{field: value})) == {field: errors.INVALID_TYPE}


@pytest.mark.parametrize(("field", "value"), [("cpu", 1), ("cpu", True), ("memory", 1024.0)])
def test_resource_values_must_be_quantity_strings(field: str, value: object) -> None:
    assert create_codes(body(resources={field: value})) == {
        f"resources.{field}": errors.INVALID_TYPE
    }


@pytest.mark.parametrize("field", ["name", "engine", "version", "storage"])
def test_null_required_fields_are_required(field: str) -> None:
    assert create_codes(body(**{field: None})) == {field: errors.REQUIRED}


def test_a_long_name_is_name_too_long() -> None:
    assert create_codes(body(name="a" * 43)) == {"name": errors.NAME_TOO_LONG}
    assert validate_create(body(name="a" * 42), catalog=CATALOG).name == "a" * 42


@pytest.mark.parametrize("name", ["", "1db", "db-", "DB", "my_db", "my.db"])
def test_bad_names_are_invalid_name(name: str) -> None:
    assert create_codes(body(name=name)) == {"name": errors.INVALID_NAME}


def test_an_unknown_engine_names_the_known_ones_and_skips_the_version_check() -> None:
    found = create_errors(body(engine="cassandra", version="4.1"))
    assert [(e.field, e.code) for e in found] == [("engine", errors.UNKNOWN_ENGINE)]
    assert "postgres, mysql, mongodb, redis" in found[0].message


def test_engine_names_are_case_sensitive() -> None:
    assert create_codes(body(engine="Postgres")) == {"engine": errors.UNKNOWN_ENGINE}


def test_a_version_of_another_engine_is_unknown() -> None:
    found = create_errors(body(engine="redis", version="16.1"))
    assert [(e.field, e.code) for e in found] == [("version", errors.UNKNOWN_VERSION)]
    assert "7.4.1" in found[0].message
    assert "7.2.4" not in found[0].message  # deprecated versions are not offered


def test_a_deprecated_version_is_refused() -> None:
    assert create_codes(body(engine="redis", version="7.2.4")) == {
        "version": errors.DEPRECATED_VERSION
    }


def test_an_engine_missing_from_the_catalog_has_no_versions() -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_create(body(engine="mongodb", version="7.0.21"), catalog={})
    assert caught.value.codes() == {"version": errors.UNKNOWN_VERSION}
    assert "no mongodb versions" in caught.value.errors[0].message


@pytest.mark.parametrize(
    ("engine", "version_name", "replicas"),
    [
        ("postgres", "16.1", 0),
        ("postgres", "16.1", -1),
        ("postgres", "16.1", 10),
        ("mysql", "8.4.3", 2),
        ("mysql", "8.4.3", 10),
        ("mongodb", "8.0.10", 2),
        ("mongodb", "8.0.10", 8),
        ("redis", "8.2.2", 6),
        ("redis", "8.2.2", 0),
    ],
)
def test_replica_counts_outside_the_engine_bounds_are_out_of_range(
    engine: str, version_name: str, replicas: int
) -> None:
    found = create_errors(body(engine=engine, version=version_name, replicas=replicas))
    assert [(e.field, e.code) for e in found] == [("replicas", errors.OUT_OF_RANGE)]
    assert engine in found[0].message


def test_replicas_are_still_checked_when_the_engine_is_unknown() -> None:
    assert create_codes(body(engine="nope", replicas=0)) == {
        "engine": errors.UNKNOWN_ENGINE,
        "replicas": errors.OUT_OF_RANGE,
    }


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("storage", "1023Mi", errors.OUT_OF_RANGE),
        ("storage", "65Ti", errors.OUT_OF_RANGE),
        ("storage", "0", errors.OUT_OF_RANGE),
        ("storage", "10GB", errors.INVALID_QUANTITY),
        ("storage", "-10Gi", errors.INVALID_QUANTITY),
        ("storage", " 10Gi", errors.INVALID_QUANTITY),
        ("storage", "", errors.INVALID_QUANTITY),
        ("storage", "10.5", errors.INVALID_QUANTITY),  # not whole bytes
        ("storage", "1500m", errors.INVALID_QUANTITY),
        ("storage", "1e40", errors.OUT_OF_RANGE),
        ("storage", "1e2147483647", errors.OUT_OF_RANGE),
        ("storage", "1e-2147483647", errors.INVALID_QUANTITY),
        ("storage", "1e99999999999", errors.INVALID_QUANTITY),
        ("cpu", "99m", errors.OUT_OF_RANGE),
        ("cpu", "65", errors.OUT_OF_RANGE),
        ("cpu", "100.5m", errors.INVALID_QUANTITY),  # finer than a millicore
        ("cpu", "two", errors.INVALID_QUANTITY),
        ("cpu", "1e30", errors.OUT_OF_RANGE),
        ("memory", "127Mi", errors.OUT_OF_RANGE),
        ("memory", "513Gi", errors.OUT_OF_RANGE),
        ("memory", "128m", errors.INVALID_QUANTITY),  # milli-bytes: a classic slip
        ("memory", "1.5.2Gi", errors.INVALID_QUANTITY),
    ],
)
def test_quantity_problems(field: str, value: str, code: str) -> None:
    if field == "storage":
        request, path = body(storage=value), "storage"
    else:
        request, path = body(resources={field: value}), f"resources.{field}"
    found = create_errors(request)
    assert [(e.field, e.code) for e in found] == [(path, code)]


@pytest.mark.parametrize("field", ["deletion_policy", "drift_policy"])
def test_policies_are_a_closed_choice(field: str) -> None:
    found = create_errors(body(**{field: "delete"}))
    assert [(e.field, e.code) for e in found] == [(field, errors.INVALID_CHOICE)]


@pytest.mark.parametrize("policy", ["Delete", "Halt", "WipeOut", "DoNotTerminate"])
def test_every_kubedb_deletion_policy_is_accepted(policy: str) -> None:
    assert validate_create(body(deletion_policy=policy), catalog=CATALOG).deletion_policy == policy


# -- patch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("request_body", [{}, {"storage": "10Gi"}, {"storage": "10240Mi"}])
def test_an_empty_or_repeating_patch_changes_nothing(request_body: dict[str, Any]) -> None:
    current = spec()
    change = validate_patch(current, request_body, catalog=CATALOG)
    assert change.spec == current
    assert change.changed == ()
    assert change.operations == ()
    assert change.is_noop


def test_repeating_every_current_value_including_name_and_engine_is_a_noop() -> None:
    current = spec(cpu="500m", memory="1Gi", deletion_policy="Halt")
    request = {
        "name": "orders",
        "engine": "postgres",
        "version": "16.1",
        "replicas": 1,
        "storage": "10Gi",
        "resources": {"cpu": "0.5", "memory": "1024Mi"},
        "deletion_policy": "Halt",
        "drift_policy": "correct",
    }
    change = validate_patch(current, request, catalog=CATALOG)
    assert change.is_noop
    assert change.spec == current  # equal quantities keep their current spelling


@pytest.mark.parametrize("request_body", [None, [], "x", 1])
def test_a_patch_body_that_is_not_an_object_is_refused(request_body: object) -> None:
    assert patch_codes(spec(), request_body) == {"": errors.INVALID_TYPE}


def test_name_and_engine_are_immutable() -> None:
    assert patch_codes(spec(), {"name": "other", "engine": "mysql"}) == {
        "name": errors.IMMUTABLE,
        "engine": errors.IMMUTABLE,
    }


def test_read_only_and_unknown_fields_are_refused_in_a_patch() -> None:
    assert patch_codes(spec(), {"generation": 2, "state": "ready", "resources": {"disk": "1"}}) == {
        "generation": errors.UNKNOWN_FIELD,
        "state": errors.UNKNOWN_FIELD,
        "resources.disk": errors.UNKNOWN_FIELD,
    }


@pytest.mark.parametrize(
    "field", ["version", "replicas", "storage", "deletion_policy", "drift_policy"]
)
def test_non_removable_fields_cannot_be_nulled(field: str) -> None:
    assert patch_codes(spec(), {field: None}) == {field: errors.REQUIRED}


def test_storage_grows_with_an_expand_operation() -> None:
    change = validate_patch(spec(), {"storage": "20Gi"}, catalog=CATALOG)
    assert change.spec.storage == "20Gi"
    assert change.changed == ("storage",)
    assert change.operations == (
        PlannedOperation(OperationType.EXPAND, {"storage": "20Gi"}, {"storage": "10Gi"}),
    )


def test_storage_never_shrinks() -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_patch(spec(storage="20Gi"), {"storage": "10Gi"}, catalog=CATALOG)
    assert caught.value.codes() == {"storage": errors.STORAGE_SHRINK}
    assert "20Gi" in caught.value.errors[0].message


def test_patched_storage_is_validated_like_at_creation() -> None:
    assert patch_codes(spec(), {"storage": "10GB"}) == {"storage": errors.INVALID_QUANTITY}
    assert patch_codes(spec(), {"storage": "65Ti"}) == {"storage": errors.OUT_OF_RANGE}
    assert patch_codes(spec(), {"storage": 20}) == {"storage": errors.INVALID_TYPE}


def test_resources_change_with_one_resize_operation() -> None:
    current = spec(cpu="500m", memory="1Gi")
    change = validate_patch(current, {"resources": {"cpu": "2"}}, catalog=CATALOG)
    assert (change.spec.cpu, change.spec.memory) == ("2", "1Gi")
    assert change.operations == (
        PlannedOperation(
            OperationType.RESIZE,
            {"cpu": "2", "memory": "1Gi"},
            {"cpu": "500m", "memory": "1Gi"},
        ),
    )


def test_null_resources_return_to_kubedb_defaults() -> None:
    current = spec(cpu="500m", memory="1Gi")
    change = validate_patch(current, {"resources": None}, catalog=CATALOG)
    assert (change.spec.cpu, change.spec.memory) == (None, None)
    assert change.changed == ("cpu", "memory")
    only_memory = validate_patch(current, {"resources": {"memory": None}}, catalog=CATALOG)
    assert (only_memory.spec.cpu, only_memory.spec.memory) == ("500m", None)


def test_patched_resources_are_validated() -> None:
    assert patch_codes(spec(), {"resources": {"cpu": "1m", "memory": 5}}) == {
        "resources.cpu": errors.OUT_OF_RANGE,
        "resources.memory": errors.INVALID_TYPE,
    }
    assert patch_codes(spec(), {"resources": "big"}) == {"resources": errors.INVALID_TYPE}


def test_postgres_scales_between_standalone_and_cluster() -> None:
    up = validate_patch(spec(), {"replicas": 3}, catalog=CATALOG)
    assert up.operations == (
        PlannedOperation(OperationType.SCALE, {"replicas": 3}, {"replicas": 1}),
    )
    down = validate_patch(spec(replicas=3), {"replicas": 1}, catalog=CATALOG)
    assert down.spec.replicas == 1


@pytest.mark.parametrize(
    ("engine", "version_name", "current", "target"),
    [
        (Engine.MYSQL, "8.4.3", 1, 3),
        (Engine.MYSQL, "8.4.3", 3, 1),
        (Engine.MONGODB, "8.0.10", 1, 3),
        (Engine.MONGODB, "8.0.10", 5, 1),
        (Engine.REDIS, "7.4.1", 1, 2),
        (Engine.REDIS, "7.4.1", 3, 1),
    ],
)
def test_crossing_the_topology_boundary_is_refused(
    engine: Engine, version_name: str, current: int, target: int
) -> None:
    current_spec = spec(engine=engine, version=version_name, replicas=current)
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_patch(current_spec, {"replicas": target}, catalog=CATALOG)
    assert caught.value.codes() == {"replicas": errors.TOPOLOGY_CHANGE}
    assert "create a new database" in caught.value.errors[0].message


@pytest.mark.parametrize(
    ("engine", "version_name", "current", "target"),
    [
        (Engine.MYSQL, "8.4.3", 3, 9),
        (Engine.MYSQL, "8.4.3", 5, 3),
        (Engine.MONGODB, "8.0.10", 3, 7),
        (Engine.REDIS, "7.4.1", 2, 5),
    ],
)
def test_scaling_within_the_replicated_topology_is_allowed(
    engine: Engine, version_name: str, current: int, target: int
) -> None:
    current_spec = spec(engine=engine, version=version_name, replicas=current)
    change = validate_patch(current_spec, {"replicas": target}, catalog=CATALOG)
    assert [op.type for op in change.operations] == [OperationType.SCALE]


def test_a_replica_count_the_engine_never_allows_is_out_of_range_not_topology_change() -> None:
    current = spec(engine=Engine.MYSQL, version="8.4.3", replicas=3)
    assert patch_codes(current, {"replicas": 2}) == {"replicas": errors.OUT_OF_RANGE}
    assert patch_codes(current, {"replicas": "4"}) == {"replicas": errors.INVALID_TYPE}


def test_an_allowed_upgrade_plans_an_upgrade_operation() -> None:
    change = validate_patch(spec(), {"version": "17.2"}, catalog=CATALOG)
    assert change.spec.version == "17.2"
    assert change.operations == (
        PlannedOperation(OperationType.UPGRADE, {"version": "17.2"}, {"version": "16.1"}),
    )


def test_an_upgrade_outside_the_update_constraints_is_refused() -> None:
    found = patch_codes(spec(), {"version": "18.3"})
    assert found == {"version": errors.UPGRADE_NOT_ALLOWED}


def test_a_downgrade_is_refused() -> None:
    assert patch_codes(spec(version="16.4"), {"version": "16.1"}) == {
        "version": errors.UPGRADE_NOT_ALLOWED
    }


def test_upgrading_to_an_unknown_or_deprecated_version_is_refused() -> None:
    assert patch_codes(spec(), {"version": "16.99"}) == {"version": errors.UNKNOWN_VERSION}
    assert patch_codes(spec(), {"version": "10.23"}) == {"version": errors.DEPRECATED_VERSION}


def test_upgrading_from_a_version_that_left_the_catalog_is_refused() -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_patch(spec(version="15.0"), {"version": "16.4"}, catalog=CATALOG)
    assert caught.value.codes() == {"version": errors.UPGRADE_NOT_ALLOWED}
    assert "no longer in the catalog" in caught.value.errors[0].message


def test_keeping_a_now_deprecated_version_is_not_an_error() -> None:
    current = spec(engine=Engine.REDIS, version="7.2.4")
    change = validate_patch(current, {"version": "7.2.4", "storage": "11Gi"}, catalog=CATALOG)
    assert change.changed == ("storage",)


def test_mysql_group_upgrades_use_the_group_replication_constraints() -> None:
    source = CatalogVersion(
        engine="mysql",
        name="8.0.35",
        version="8.0.35",
        allowlist=("> 8.0.35",),
        group_allowlist=("= 8.0.36",),
    )
    catalog = {"mysql": [source, CatalogVersion(engine="mysql", name="8.4.3", version="8.4.3")]}
    standalone = spec(engine=Engine.MYSQL, version="8.0.35", replicas=1)
    group = spec(engine=Engine.MYSQL, version="8.0.35", replicas=3)
    assert validate_patch(standalone, {"version": "8.4.3"}, catalog=catalog).changed == ("version",)
    with pytest.raises(errors.ValidationFailed) as caught:
        validate_patch(group, {"version": "8.4.3"}, catalog=catalog)
    assert caught.value.codes() == {"version": errors.UPGRADE_NOT_ALLOWED}


def test_a_policy_change_is_a_configure_operation_and_drift_policy_needs_none() -> None:
    change = validate_patch(
        spec(), {"deletion_policy": "DoNotTerminate", "drift_policy": "report"}, catalog=CATALOG
    )
    assert change.changed == ("deletion_policy", "drift_policy")
    assert change.operations == (
        PlannedOperation(
            OperationType.CONFIGURE,
            {"deletion_policy": "DoNotTerminate"},
            {"deletion_policy": "Delete"},
        ),
    )
    drift_only = validate_patch(spec(), {"drift_policy": "report"}, catalog=CATALOG)
    assert drift_only.changed == ("drift_policy",)
    assert drift_only.operations == ()


def test_patched_policies_are_a_closed_choice() -> None:
    assert patch_codes(spec(), {"deletion_policy": "Keep", "drift_policy": "ignore"}) == {
        "deletion_policy": errors.INVALID_CHOICE,
        "drift_policy": errors.INVALID_CHOICE,
    }


def test_a_patch_changing_everything_plans_operations_in_the_fixed_order() -> None:
    current = spec(cpu="500m", memory="1Gi")
    change = validate_patch(
        current,
        {
            "version": "16.4",
            "replicas": 3,
            "resources": {"cpu": "1", "memory": "2Gi"},
            "storage": "50Gi",
            "deletion_policy": "Halt",
        },
        catalog=CATALOG,
    )
    assert [op.type for op in change.operations] == [
        OperationType.CONFIGURE,
        OperationType.EXPAND,
        OperationType.RESIZE,
        OperationType.SCALE,
        OperationType.UPGRADE,
    ]
    assert change.spec == dataclasses.replace(
        current,
        version="16.4",
        replicas=3,
        cpu="1",
        memory="2Gi",
        storage="50Gi",
        deletion_policy="Halt",
    )


def test_every_patch_problem_is_reported_at_once() -> None:
    current = spec(engine=Engine.MYSQL, version="8.4.3", replicas=3, storage="20Gi")
    assert patch_codes(
        current,
        {
            "name": "renamed",
            "version": "1.0",
            "replicas": 1,
            "storage": "10Gi",
            "resources": {"cpu": "x"},
            "deletion_policy": "Never",
            "tier": "gold",
        },
    ) == {
        "tier": errors.UNKNOWN_FIELD,
        "name": errors.IMMUTABLE,
        "version": errors.UNKNOWN_VERSION,
        "replicas": errors.TOPOLOGY_CHANGE,
        "storage": errors.STORAGE_SHRINK,
        "resources.cpu": errors.INVALID_QUANTITY,
        "deletion_policy": errors.INVALID_CHOICE,
    }


def test_every_error_code_is_reachable() -> None:
    seen: set[str] = set()
    create_requests: list[object] = [
        [],
        {},
        body(name="A" * 50, engine="x", replicas=0, storage="1Mi", deletion_policy="x", extra=1),
        body(version="nope", storage="10GB"),
        body(engine="redis", version="7.2.4"),
    ]
    for request in create_requests:
        with pytest.raises(errors.ValidationFailed) as caught:
            validate_create(request, catalog=CATALOG)
        seen |= {e.code for e in caught.value.errors}
    patches: list[tuple[DatabaseSpec, object]] = [
        (spec(), {"name": "x", "version": "18.3"}),
        (spec(storage="20Gi"), {"storage": "10Gi"}),
        (spec(engine=Engine.REDIS, version="7.4.1"), {"replicas": 3}),
    ]
    for current, request in patches:
        with pytest.raises(errors.ValidationFailed) as caught:
            validate_patch(current, request, catalog=CATALOG)
        seen |= {e.code for e in caught.value.errors}
    # The `backup` field's own codes (services/domain/backups.py).
    for engine, backup in (
        (Engine.REDIS, {"schedule": "0 2 31 2 *", "pitr": True}),
        (Engine.POSTGRES, {"schedule": "@daily", "retention": {"max_age": "30 days"}}),
    ):
        with pytest.raises(errors.ValidationFailed) as caught:
            backups.parse_backup(backup, engine=engine)
        seen |= {e.code for e in caught.value.errors}
    assert seen == errors.CODES


# -- the spec itself and planning ----------------------------------------------------------


def test_a_spec_built_from_a_row_with_a_plain_engine_string_holds_the_enum() -> None:
    row = spec(cpu="1", memory=None, deletion_policy="Halt").columns()
    assert row["engine"] == "postgres" and type(row["engine"]) is str
    rebuilt = DatabaseSpec.from_columns(row)
    assert rebuilt.engine is Engine.POSTGRES
    assert rebuilt == spec(cpu="1", memory=None, deletion_policy="Halt")
    assert DatabaseSpec(**row).engine is Engine.POSTGRES
    with pytest.raises(ValueError):
        DatabaseSpec(**{**row, "engine": "oracle"})


def test_the_public_view_nests_resources() -> None:
    assert spec(cpu="1").public()["resources"] == {"cpu": "1", "memory": None}
    assert "cpu" not in spec().public()


def test_topology_follows_replicas() -> None:
    assert spec().topology.value == "standalone"
    assert spec(replicas=2).topology.value == "replicated"
    assert f"{spec().engine}" == "postgres"


def test_plan_operations_ignores_respellings_of_the_same_quantity() -> None:
    current = spec(cpu="1", memory="1Gi")
    same = dataclasses.replace(current, storage="10240Mi", cpu="1000m", memory="1024Mi")
    assert specs.plan_operations(current, same) == []


def test_create_restart_and_delete_plans() -> None:
    current = spec(deletion_policy="WipeOut")
    create = planning.plan_create(current)
    assert create.type is OperationType.CREATE
    assert create.params == current.columns()
    assert planning.plan_restart() == PlannedOperation(OperationType.RESTART, {}, {})
    delete = planning.plan_delete(current)
    assert delete.params == {"deletion_policy": "WipeOut"}
    assert f"{delete.type}" == "delete"


def test_validation_failed_needs_errors_and_lists_them_in_its_message() -> None:
    with pytest.raises(ValueError):
        errors.ValidationFailed([])
    failure = errors.ValidationFailed([errors.FieldError("", "invalid_type", "must be an object")])
    assert "(body): must be an object" in str(failure)
    assert failure.errors[0].as_dict() == {
        "field": "",
        "code": "invalid_type",
        "message": "must be an object",
    }


# -- an unknown version: the nearest offered ones of its major ------------------------------


def version_message(requested: str, engine: str = "postgres") -> str:
    (error,) = create_errors(body(engine=engine, version=requested))
    assert error.field == "version" and error.code == errors.UNKNOWN_VERSION
    return error.message


def test_a_bare_major_suggests_its_versions_newest_first_not_the_newest_engine() -> None:
    message = version_message("16")
    assert message.endswith("nearest offered: 16.4, 16.1")
    assert "18.3" not in message


def test_a_missing_minor_suggests_the_nearest_minors_of_its_major() -> None:
    assert version_message("16.3").endswith("nearest offered: 16.4, 16.1")
    assert version_message("8.0.40", "mysql").endswith("nearest offered: 8.0.35, 8.4.3")


def test_a_major_the_catalog_lacks_lists_what_is_offered_and_never_a_deprecated_one() -> None:
    message = version_message("19")
    assert message.endswith("available: 16.1, 16.4, 17.2, 18.3")
    assert version_message("10").endswith("available: 16.1, 16.4, 17.2, 18.3")

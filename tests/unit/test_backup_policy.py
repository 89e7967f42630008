"""The `backup` field of a database, decided purely: validation at create and by PATCH
(merge patch), the `backup_policy` operation it plans and the worker's step for it."""

from __future__ import annotations

from typing import Any

import pytest

from services.domain import backup_manifests, errors, specs
from services.domain.backups import BackupPolicy, Retention
from services.domain.engines import Engine
from services.domain.planning import OperationType
from services.worker import applying, steps
from tests.reconcilers_support import operation, record
from tests.unit.test_specs import CATALOG, body

NIGHTLY = {"schedule": "0 2 * * *", "retention": {"keep_last": 7, "max_age": "30d"}, "pitr": False}


def current(**overrides: Any) -> specs.DatabaseSpec:
    values: dict[str, Any] = {
        "name": "orders",
        "engine": Engine.POSTGRES,
        "version": "16.1",
        "replicas": 1,
        "storage": "10Gi",
    }
    values.update(overrides)
    return specs.DatabaseSpec(**values)


def field_errors(exc: pytest.ExceptionInfo[errors.ValidationFailed]) -> dict[str, str]:
    return {e.field: e.code for e in exc.value.errors}


# -- validation ------------------------------------------------------------------------


def test_create_takes_a_policy_and_shows_it_with_its_defaults() -> None:
    spec = specs.validate_create(body(backup={"schedule": "@daily"}), catalog=CATALOG)
    assert spec.backup == BackupPolicy("@daily")
    assert spec.public()["backup"] == {
        "schedule": "@daily",
        "retention": {"keep_last": 7, "max_age": "30d"},
        "pitr": False,
    }
    assert specs.validate_create(body(), catalog=CATALOG).backup is None


def test_create_lists_every_backup_problem_with_the_others() -> None:
    with pytest.raises(errors.ValidationFailed) as exc:
        specs.validate_create(
            body(
                engine="redis",
                version="7.4.1",
                storage="1Mi",
                backup={"schedule": "0 0 31 2 *", "retention": {"keep_last": 0}, "pitr": True},
            ),
            catalog=CATALOG,
        )
    assert field_errors(exc) == {
        "storage": errors.OUT_OF_RANGE,
        "backup.schedule": errors.INVALID_SCHEDULE,
        "backup.retention.keep_last": errors.OUT_OF_RANGE,
        "backup.pitr": errors.NOT_SUPPORTED,
    }


def test_a_patch_merges_into_the_current_policy() -> None:
    now = current(backup=BackupPolicy.from_public(NIGHTLY))
    change = specs.validate_patch(
        now, {"backup": {"pitr": True, "retention": {"keep_last": 3}}}, catalog=CATALOG
    )
    assert change.spec.backup == BackupPolicy(
        "0 2 * * *", Retention(keep_last=3, max_age="30d"), pitr=True
    )
    assert change.changed == ("backup",)
    (planned,) = change.operations
    assert planned.type is OperationType.BACKUP_POLICY
    assert planned.params == {"backup": change.spec.backup.public()}  # type: ignore[union-attr]
    assert planned.previous == {"backup": NIGHTLY}


def test_a_null_inside_retention_lifts_that_bound_and_a_null_member_restores_a_default() -> None:
    now = current(backup=BackupPolicy("@hourly", Retention(3, "7d"), pitr=True))
    change = specs.validate_patch(
        now, {"backup": {"retention": {"max_age": None}, "pitr": None}}, catalog=CATALOG
    )
    assert change.spec.backup == BackupPolicy("@hourly", Retention(3, None), pitr=False)


def test_null_removes_the_policy_and_repeating_it_changes_nothing() -> None:
    now = current(backup=BackupPolicy.from_public(NIGHTLY))
    removed = specs.validate_patch(now, {"backup": None}, catalog=CATALOG)
    assert removed.spec.backup is None
    assert [op.params for op in removed.operations] == [{"backup": None}]
    same = specs.validate_patch(now, {"backup": {"schedule": "0 2 * * *"}}, catalog=CATALOG)
    assert same.is_noop and same.operations == ()


@pytest.mark.parametrize(
    ("patch", "where", "code"),
    [
        ({"schedule": "every day"}, "backup.schedule", errors.INVALID_SCHEDULE),
        ({"schedule": "0 0 L * *"}, "backup.schedule", errors.INVALID_SCHEDULE),
        (
            {"retention": {"max_age": "30 days"}},
            "backup.retention.max_age",
            errors.INVALID_DURATION,
        ),
        (
            {"retention": {"keep_last": None, "max_age": None}},
            "backup.retention",
            errors.OUT_OF_RANGE,
        ),
        ({"pitr": "yes"}, "backup.pitr", errors.INVALID_TYPE),
        ({"when": "daily"}, "backup.when", errors.UNKNOWN_FIELD),
    ],
)
def test_a_bad_patch_is_refused_naming_the_field(
    patch: dict[str, Any], where: str, code: str
) -> None:
    now = current(backup=BackupPolicy.from_public(NIGHTLY))
    with pytest.raises(errors.ValidationFailed) as exc:
        specs.validate_patch(now, {"backup": patch}, catalog=CATALOG)
    assert field_errors(exc) == {where: code}


def test_pitr_is_refused_for_redis_by_patch_too() -> None:
    redis = current(engine=Engine.REDIS, version="7.4.1")
    with pytest.raises(errors.ValidationFailed) as exc:
        specs.validate_patch(redis, {"backup": {"schedule": "@daily", "pitr": True}}, catalog={})
    assert field_errors(exc) == {"backup.pitr": errors.NOT_SUPPORTED}


def test_the_policy_round_trips_through_the_row() -> None:
    spec = current(backup=BackupPolicy("@weekly", Retention(None, "1y"), pitr=True))
    assert specs.DatabaseSpec.from_columns(spec.columns()) == spec


# -- the worker's step -----------------------------------------------------------------

STORAGE = "dbaas-backup/local"


def _step(engine: str, policy: dict[str, Any] | None) -> steps.Step:
    version = {"postgres": "16.13", "redis": "7.4.1"}[engine]
    rec = record(engine=engine, version=version, backup=policy)
    op = operation(
        rec.id, "backup_policy", params={"backup": policy, "storage": STORAGE}, state="running"
    )
    return steps.plan_step(op, rec, namespace="dbaas-acme", password="secret")


def test_a_policy_step_renders_the_schedule_retention_and_archiver() -> None:
    policy = BackupPolicy("0 2 * * *", Retention(5, None), pitr=True)
    step = _step("postgres", policy.public())
    assert step.action is steps.Action.APPLY_BACKUP_POLICY
    assert step.body is not None and step.policy is not None
    (session,) = step.body["spec"]["sessions"]
    assert session["scheduler"]["schedule"] == "0 2 * * *"
    assert "suspend" not in session["scheduler"]
    assert step.policy.retention is not None
    assert step.policy.retention.body["spec"]["successfulSnapshots"] == {"last": 5}
    assert "maxRetentionPeriod" not in step.policy.retention.body["spec"]
    assert step.policy.archiver is not None
    assert step.policy.archiver.body["kind"] == "PostgresArchiver"
    assert (
        step.policy.archiver_patch["spec"]["archiver"]["ref"]["name"] == step.policy.archiver_name
    )
    (secret,) = step.prerequisites
    assert secret.body["stringData"] == {backup_manifests.ENCRYPTION_KEY: "secret"}


def test_a_null_policy_step_suspends_and_drops_the_archiver() -> None:
    step = _step("postgres", None)
    assert step.body is None and step.prerequisites == ()
    assert step.policy is not None
    assert step.policy.retention is None and step.policy.archiver is None
    assert step.policy.archiver_resource is not None  # to delete the archiver if present
    assert step.policy.archiver_patch == {"spec": {"archiver": None}}


def test_redis_has_no_archiver_to_touch() -> None:
    step = _step("redis", BackupPolicy("@daily").public())
    assert step.policy is not None
    assert step.policy.archiver is None and step.policy.archiver_resource is None


def test_spec_patch_removes_unwanted_keys_and_is_empty_when_equal() -> None:
    have = {"successfulSnapshots": {"last": 7}, "maxRetentionPeriod": "30d", "default": False}
    want = {"successfulSnapshots": {"last": 3}, "default": False}
    assert applying.spec_patch(have, want) == {
        "maxRetentionPeriod": None,
        "successfulSnapshots": {"last": 3},
    }
    assert applying.spec_patch(want, want) == {}


def test_a_delete_takes_the_schedule_along_only_when_there_is_a_policy() -> None:
    with_policy = record(backup=BackupPolicy("@daily").public())
    op = operation(with_policy.id, "delete", state="running")
    step = steps.plan_step(op, with_policy, namespace="dbaas-acme")
    assert [(resource.kind, name) for resource, name in step.companions] == [
        ("BackupConfiguration", f"orders-backup-{with_policy.id.hex[:12]}"),
        ("PostgresArchiver", f"orders-pitr-{with_policy.id.hex[:12]}"),
    ]
    plain = record()
    assert steps.plan_step(operation(plain.id, "delete"), plain, namespace="x").companions == ()

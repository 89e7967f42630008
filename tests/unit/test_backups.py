"""The `backup` field: what is accepted, and every refusal with its field, code and wording."""

from __future__ import annotations

from typing import Any

import pytest

from services.domain import backups, errors
from services.domain.backups import BackupPolicy, Retention
from services.domain.engines import Engine


def refused(value: Any, engine: Engine | None = Engine.POSTGRES) -> dict[str, str]:
    with pytest.raises(errors.ValidationFailed) as caught:
        backups.parse_backup(value, engine=engine)
    return {e.field: e.code for e in caught.value.errors}


def messages(value: Any, engine: Engine | None = Engine.POSTGRES) -> dict[str, str]:
    with pytest.raises(errors.ValidationFailed) as caught:
        backups.parse_backup(value, engine=engine)
    return {e.field: e.message for e in caught.value.errors}


def test_null_means_no_scheduled_backups() -> None:
    assert backups.parse_backup(None, engine=Engine.REDIS) is None


def test_a_schedule_alone_takes_the_default_retention_and_no_pitr() -> None:
    policy = backups.parse_backup({"schedule": "0 2 * * *"}, engine=Engine.MYSQL)
    assert policy == BackupPolicy("0 2 * * *", Retention(7, "30d"), False)
    assert policy.public() == {
        "schedule": "0 2 * * *",
        "retention": {"keep_last": 7, "max_age": "30d"},
        "pitr": False,
    }


def test_the_full_form_round_trips_through_its_public_shape() -> None:
    body = {"schedule": "@daily", "retention": {"keep_last": 30, "max_age": "6mo"}, "pitr": True}
    policy = backups.parse_backup(body, engine=Engine.MONGODB)
    assert policy is not None
    assert policy.public() == body
    assert BackupPolicy.from_public(policy.public()) == policy
    assert BackupPolicy.from_public(None) is None


@pytest.mark.parametrize(
    "schedule",
    ["0 2 * * *", "*/15 * * * *", "0 3 * * MON-FRI", "0 0 1 JAN,JUL ?", "30 4 1-7 * 0", "@hourly"],
)
def test_standard_cron_expressions_are_accepted(schedule: str) -> None:
    policy = backups.parse_backup({"schedule": schedule}, engine=Engine.POSTGRES)
    assert policy is not None and policy.schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "wording"),
    [
        ("0 2 * *", "must have 5 fields"),
        ("0 0 2 * * *", "must have 5 fields"),
        ("61 * * * *", "out of range"),
        ("0 24 * * *", "out of range"),
        ("0 2 L * *", "not standard cron"),
        ("0 2 ABC * *", "numbers only"),
        ("0 2 * * 5#3", "not standard cron"),
        ("H 2 * * *", "not standard cron"),
        ("0 2 * * FOO", "one of SUN"),
        ("0 0 31 2 *", "never fires"),
        ("@every 5m", "not a cron macro"),
        (" 0 2 * * *", "without leading or trailing spaces"),
        ("", "without leading or trailing spaces"),
    ],
)
def test_a_schedule_a_cronjob_would_not_run_is_refused_with_the_reason(
    schedule: str, wording: str
) -> None:
    found = messages({"schedule": schedule})
    assert list(found) == ["backup.schedule"]
    assert wording in found["backup.schedule"]
    assert refused({"schedule": schedule}) == {"backup.schedule": errors.INVALID_SCHEDULE}


def test_types_are_strict_and_every_problem_is_listed_at_once() -> None:
    body = {
        "schedule": 5,
        "retention": {"keep_last": "7", "max_age": 30, "extra": 1},
        "pitr": "yes",
        "when": "now",
    }
    assert refused(body) == {
        "backup.when": errors.UNKNOWN_FIELD,
        "backup.schedule": errors.INVALID_TYPE,
        "backup.retention.extra": errors.UNKNOWN_FIELD,
        "backup.retention.keep_last": errors.INVALID_TYPE,
        "backup.retention.max_age": errors.INVALID_TYPE,
        "backup.pitr": errors.INVALID_TYPE,
    }
    assert refused({}) == {"backup.schedule": errors.REQUIRED}
    assert refused([]) == {"backup": errors.INVALID_TYPE}
    assert refused({"schedule": "@daily", "retention": []}) == {
        "backup.retention": errors.INVALID_TYPE
    }
    assert refused({"schedule": "@daily", "retention": {"keep_last": 7.0}}) == {
        "backup.retention.keep_last": errors.INVALID_TYPE
    }


@pytest.mark.parametrize("keep_last", [0, -1, 1001])
def test_keep_last_is_bounded(keep_last: int) -> None:
    body = {"schedule": "@daily", "retention": {"keep_last": keep_last}}
    assert refused(body) == {"backup.retention.keep_last": errors.OUT_OF_RANGE}
    assert "between 1 and 1000" in messages(body)["backup.retention.keep_last"]


@pytest.mark.parametrize(("max_age", "code"), [
    ("30 days", errors.INVALID_DURATION),
    ("30", errors.INVALID_DURATION),
    ("0d", errors.INVALID_DURATION),
    ("1m", errors.INVALID_DURATION),
    ("11y", errors.OUT_OF_RANGE),
    ("3651d", errors.OUT_OF_RANGE),
])  # fmt: skip
def test_max_age_is_a_bounded_duration(max_age: str, code: str) -> None:
    assert refused({"schedule": "@daily", "retention": {"max_age": max_age}}) == {
        "backup.retention.max_age": code
    }


@pytest.mark.parametrize(
    ("max_age", "hours"),
    [("1h", 1), ("36h", 36), ("30d", 720), ("2w", 336), ("6mo", 4320), ("10y", 87600)],
)
def test_max_age_accepts_kubestash_units(max_age: str, hours: int) -> None:
    policy = backups.parse_backup(
        {"schedule": "@daily", "retention": {"max_age": max_age}}, engine=Engine.POSTGRES
    )
    assert policy is not None and policy.retention.max_age == max_age
    assert backups.max_age_hours(max_age) == hours


def test_one_retention_bound_may_be_lifted_but_not_both() -> None:
    only_count = backups.parse_backup(
        {"schedule": "@daily", "retention": {"max_age": None}}, engine=Engine.POSTGRES
    )
    assert only_count is not None and only_count.retention == Retention(7, None)
    only_age = backups.parse_backup(
        {"schedule": "@daily", "retention": {"keep_last": None, "max_age": "7d"}},
        engine=Engine.POSTGRES,
    )
    assert only_age is not None and only_age.retention == Retention(None, "7d")
    body = {"schedule": "@daily", "retention": {"keep_last": None, "max_age": None}}
    assert refused(body) == {"backup.retention": errors.OUT_OF_RANGE}
    assert "kept forever" in messages(body)["backup.retention"]


@pytest.mark.parametrize("engine", [Engine.POSTGRES, Engine.MYSQL, Engine.MONGODB])
def test_pitr_is_accepted_for_engines_with_an_archiver(engine: Engine) -> None:
    policy = backups.parse_backup({"schedule": "@daily", "pitr": True}, engine=engine)
    assert policy is not None and policy.pitr


def test_pitr_is_refused_for_redis_saying_which_engines_have_it() -> None:
    body = {"schedule": "@daily", "pitr": True}
    assert refused(body, Engine.REDIS) == {"backup.pitr": errors.NOT_SUPPORTED}
    assert messages(body, Engine.REDIS)["backup.pitr"] == (
        "point-in-time recovery is not available for redis (KubeDB archives only mongodb, "
        "mysql, postgres)"
    )
    # Redis still gets scheduled backups, and an unknown engine skips the PITR rule.
    assert backups.parse_backup({"schedule": "@daily"}, engine=Engine.REDIS) is not None
    assert backups.parse_backup(body, engine=None) is not None


def test_check_backup_appends_to_the_callers_list_under_its_field_name() -> None:
    found: list[errors.FieldError] = [errors.FieldError("name", errors.REQUIRED, "is required")]
    value = backups.check_backup({"schedule": "x"}, engine=Engine.POSTGRES, field="b", found=found)
    assert value is None
    assert [(e.field, e.code) for e in found] == [
        ("name", errors.REQUIRED),
        ("b.schedule", errors.INVALID_SCHEDULE),
    ]

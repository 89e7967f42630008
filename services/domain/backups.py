"""A database's backup policy: the value type and the validation of the `backup` field.

Why: a database's `backup` field (`{"schedule": "<cron>", "retention": {"keep_last": N,
"max_age": "30d"}, "pitr": bool}` or null) becomes a KubeStash BackupConfiguration, a
RetentionPolicy and, with PITR, a KubeDB archiver. Whatever KubeStash or the CronJob
controller would refuse later (or silently never run) must be refused here, with every
problem listed at once, in the wording of `fields`. Pure: no I/O.

Rules:
- null: no scheduled backups (on-demand backups still work).
- schedule (required): a standard 5-field cron expression as a Kubernetes CronJob takes it
  (minute hour day-of-month month day-of-week; numbers, `*`, `?`, ranges, steps, lists,
  month and weekday names) or one of the macros `@yearly @annually @monthly @weekly @daily
  @midnight @hourly`. Quartz-style `L`, `W`, `#` and croniter's `H` are not standard cron and
  are refused, as is an expression that never fires (`0 0 31 2 *`).
- retention (optional, default keep_last 7 and max_age 30d): `keep_last` 1..1000 snapshots,
  `max_age` a number and a unit (`h`, `d`, `w`, `mo`, `y`) between 1h and 10y (KubeStash's
  `maxRetentionPeriod` spelling); either may be null, not both (an unbounded retention keeps
  every snapshot forever).
- pitr (optional, default false): only for engines with a KubeDB archiver (Postgres, MySQL,
  MongoDB; KUBESTASH-API.md §6: no RedisArchiver exists).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from services.domain import errors, fields
from services.domain.engines import Engine

BACKUP_FIELDS = ("schedule", "retention", "pitr")
RETENTION_FIELDS = ("keep_last", "max_age")

DEFAULT_KEEP_LAST = 7
DEFAULT_MAX_AGE = "30d"
KEEP_LAST_MIN = 1
KEEP_LAST_MAX = 1000
MAX_AGE_MIN_HOURS = 1
MAX_AGE_MAX_HOURS = 10 * 365 * 24

PITR_ENGINES = frozenset({Engine.POSTGRES, Engine.MYSQL, Engine.MONGODB})
"""Engines KubeDB can archive continuously (a <Kind>Archiver exists)."""

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
# One list item of a standard cron field: `*`, `?`, a value or a range, with an optional step.
_CRON_ITEM = re.compile(
    r"(?:\*|\?|(?P<low>[0-9]+|[A-Za-z]{3})(?:-(?P<high>[0-9]+|[A-Za-z]{3}))?)(?:/[0-9]+)?"
)
_MAX_AGE = re.compile(r"(?P<number>[1-9][0-9]{0,5})(?P<unit>h|d|w|mo|y)")
_HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 7 * 24, "mo": 30 * 24, "y": 365 * 24}
# A fixed base for the "does it ever fire" check, so validation never depends on the clock.
_CRON_BASE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class BackupState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (BackupState.SUCCEEDED, BackupState.FAILED)

    def __str__(self) -> str:
        return self.value


class BackupOrigin(str, Enum):
    SCHEDULE = "schedule"
    MANUAL = "manual"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class BackupRecord:
    """One backup, as the `backups` row holds it (services/store/backups.py)."""

    id: uuid.UUID
    project_id: str
    database_id: uuid.UUID
    operation_id: uuid.UUID | None
    origin: BackupOrigin
    state: BackupState
    backup_session: str | None
    snapshot: str | None
    size_bytes: int | None
    error: str | None
    started_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    snapshot_deleted_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    expires_at: datetime.datetime | None = None
    """When the Snapshot of a deleted database's backup is deleted (None: kept)."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BackupRecord:
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in row.items() if key in names}
        values["origin"] = BackupOrigin(values["origin"])
        values["state"] = BackupState(values["state"])
        return cls(**values)

    @property
    def cursor(self) -> tuple[datetime.datetime, uuid.UUID]:
        """The keyset position of this backup in a newest-first list."""
        return self.created_at, self.id


@dataclasses.dataclass(frozen=True)
class Retention:
    """How many snapshots to keep and for how long; None = no limit on that axis."""

    keep_last: int | None = DEFAULT_KEEP_LAST
    max_age: str | None = DEFAULT_MAX_AGE

    def public(self) -> dict[str, Any]:
        return {"keep_last": self.keep_last, "max_age": self.max_age}


@dataclasses.dataclass(frozen=True)
class BackupPolicy:
    """A database's scheduled backups, as the `backup` field states them."""

    schedule: str
    retention: Retention = Retention()
    pitr: bool = False

    def public(self) -> dict[str, Any]:
        """The policy as the API shows it (and as the `databases` row stores it, JSON)."""
        return {"schedule": self.schedule, "retention": self.retention.public(), "pitr": self.pitr}

    @classmethod
    def from_public(cls, value: Mapping[str, Any] | None) -> BackupPolicy | None:
        """Rebuild from `public()` output (a stored row); trusts stored values."""
        if value is None:
            return None
        retention = value.get("retention") or {}
        return cls(
            schedule=value["schedule"],
            retention=Retention(
                keep_last=retention.get("keep_last"), max_age=retention.get("max_age")
            ),
            pitr=bool(value.get("pitr", False)),
        )


def parse_backup(
    value: object, *, engine: Engine | None, field: str = "backup"
) -> BackupPolicy | None:
    """The policy `value` asks for; raises `ValidationFailed` listing every problem."""
    found: list[errors.FieldError] = []
    policy = check_backup(value, engine=engine, field=field, found=found)
    if found:
        raise errors.ValidationFailed(found)
    return policy


def check_backup(
    value: object, *, engine: Engine | None, field: str, found: list[errors.FieldError]
) -> BackupPolicy | None:
    """The policy `value` asks for (None for null or when invalid); problems go to `found`.

    `engine` None (itself invalid in the request) skips the per-engine PITR rule.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        found.append(fields.not_an_object(field, value))
        return None
    before = len(found)
    found += fields.unknown_fields(value, BACKUP_FIELDS, prefix=f"{field}.")
    schedule = _schedule(value, f"{field}.schedule", found)
    retention = _retention(value.get("retention", {}), f"{field}.retention", found)
    pitr = value.get("pitr", False)
    if not isinstance(pitr, bool):
        found.append(fields.wrong_type(f"{field}.pitr", "true or false", pitr))
    elif pitr and engine is not None and engine not in PITR_ENGINES:
        found.append(
            errors.FieldError(
                f"{field}.pitr",
                errors.NOT_SUPPORTED,
                f"point-in-time recovery is not available for {engine.value} (KubeDB archives "
                f"only {', '.join(sorted(e.value for e in PITR_ENGINES))})",
            )
        )
    if len(found) > before or schedule is None or retention is None:
        return None
    return BackupPolicy(schedule=schedule, retention=retention, pitr=bool(pitr))


def max_age_hours(max_age: str) -> int:
    """`30d` -> 720; raises ValueError for a spelling `check_backup` refuses."""
    match = _MAX_AGE.fullmatch(max_age)
    if match is None:
        raise ValueError(f"{max_age!r} is not a number followed by h, d, w, mo or y")
    return int(match.group("number")) * _HOURS_PER_UNIT[match.group("unit")]


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule a Kubernetes CronJob runs, or None when it is."""
    text = expression.strip()
    if text != expression or not text:
        return "must be a cron expression without leading or trailing spaces"
    if text.startswith("@"):
        if text not in CRON_MACROS:
            return f"{text!r} is not a cron macro; use one of {', '.join(CRON_MACROS)}"
        return None
    parts = text.split()
    if len(parts) != len(_CRON_FIELDS):
        return (
            f"must have 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}: {text!r}"
        )
    for name, part in zip(_CRON_FIELDS, parts, strict=True):
        problem = _cron_field_problem(name, part)
        if problem is not None:
            return problem
    try:
        if not croniter.is_valid(text):
            return f"{text!r} is not a valid cron expression (a value is out of range)"
        croniter(text, _CRON_BASE).get_next(datetime.datetime)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError):
        return f"{text!r} never fires (no such date)"
    return None


def _cron_field_problem(name: str, part: str) -> str | None:
    names = _MONTHS if name == "month" else _WEEKDAYS if name == "day of week" else ()
    for item in part.split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None:
            return (
                f"the {name} field {part!r} is not standard cron (numbers, names, '*', '?', "
                "ranges a-b, steps /n and lists a,b)"
            )
        for bound in (match.group("low"), match.group("high")):
            if bound is not None and bound.isalpha() and bound.upper() not in names:
                allowed = f"one of {', '.join(names)}" if names else "numbers only"
                return f"the {name} field has {bound!r}: {allowed}"
    return None


def _schedule(body: Mapping[str, Any], field: str, found: list[errors.FieldError]) -> str | None:
    value = body.get("schedule")
    if value is None:
        found.append(errors.FieldError(field, errors.REQUIRED, "is required"))
        return None
    if not isinstance(value, str):
        found.append(fields.wrong_type(field, "a cron expression string", value))
        return None
    problem = cron_problem(value)
    if problem is not None:
        found.append(errors.FieldError(field, errors.INVALID_SCHEDULE, problem))
        return None
    return value


def _retention(value: object, field: str, found: list[errors.FieldError]) -> Retention | None:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        found.append(fields.not_an_object(field, value))
        return None
    before = len(found)
    found += fields.unknown_fields(value, RETENTION_FIELDS, prefix=f"{field}.")
    keep_last = value.get("keep_last", DEFAULT_KEEP_LAST)
    if keep_last is not None:
        if not fields.is_integer(keep_last):
            found.append(fields.wrong_type(f"{field}.keep_last", "an integer", keep_last))
        elif not KEEP_LAST_MIN <= keep_last <= KEEP_LAST_MAX:
            found.append(
                errors.FieldError(
                    f"{field}.keep_last",
                    errors.OUT_OF_RANGE,
                    f"must be between {KEEP_LAST_MIN} and {KEEP_LAST_MAX} (got {keep_last})",
                )
            )
    max_age = value.get("max_age", DEFAULT_MAX_AGE)
    if max_age is not None:
        _check_max_age(max_age, f"{field}.max_age", found)
    if keep_last is None and max_age is None:
        found.append(
            errors.FieldError(
                field,
                errors.OUT_OF_RANGE,
                "keep_last and max_age cannot both be null: snapshots would be kept forever",
            )
        )
    if len(found) > before:
        return None
    return Retention(keep_last=keep_last, max_age=max_age)


def _check_max_age(value: object, field: str, found: list[errors.FieldError]) -> None:
    if not isinstance(value, str):
        found.append(fields.wrong_type(field, "a duration string such as '30d'", value))
        return
    try:
        hours = max_age_hours(value)
    except ValueError:
        found.append(
            errors.FieldError(
                field,
                errors.INVALID_DURATION,
                f"{value!r} is not a duration: a whole number followed by h, d, w, mo or y "
                "(examples: '36h', '30d', '6mo', '1y')",
            )
        )
        return
    if not MAX_AGE_MIN_HOURS <= hours <= MAX_AGE_MAX_HOURS:
        found.append(
            errors.FieldError(
                field, errors.OUT_OF_RANGE, f"must be between 1h and 10y (got {value})"
            )
        )

"""Restore into a new database: the `restore` field of a create request and whether its
source can be restored into the database the request describes.

Why here: the rules are KubeStash's and KubeDB's (KUBESTASH-API.md §3, §5.5, §6), the API
must refuse whatever the cluster would fail later (or, for an Invalid RestoreSession, never
finish: KubeDB leaves the database DataRestoring forever), and status-sync, the worker and
the tests must agree on them. Pure: no I/O, no clock (the caller passes what it read).

The field: `{"backup_id": "<uuid>"}` (a logical restore of that backup's Snapshot) or
`{"database_id": "<uuid>", "point_in_time": "<RFC 3339>"}` (KubeDB's archiver recovery,
Postgres/MySQL/MongoDB only). Refusals, each with a stable `reason`:
- engine-mismatch: the source holds another engine's data.
- version-incompatible: another major version, or an older one than the source's (a dump
  or a data directory of a newer server does not load into an older one).
- backup-not-restorable: the backup has not succeeded, has no Snapshot, or retention
  deleted its Snapshot.
- no-point-in-time-recovery: the engine has no archiver, or the source database is not
  archived (no restorable window recorded yet).
- outside-window: the point in time is not within the source's restorable window.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

from services.domain import errors, fields, versions
from services.domain.backups import PITR_ENGINES, BackupRecord, BackupState
from services.domain.engines import Engine

RESTORE_FIELDS = ("backup_id", "database_id", "point_in_time")


@dataclasses.dataclass(frozen=True)
class RestoreRequest:
    """What a create request's `restore` field asks for: exactly one of the two forms."""

    backup_id: uuid.UUID | None = None
    database_id: uuid.UUID | None = None
    point_in_time: datetime.datetime | None = None

    @property
    def is_point_in_time(self) -> bool:
        return self.point_in_time is not None


@dataclasses.dataclass(frozen=True)
class Window:
    """The restorable window of an archived database: any time in [earliest, latest]."""

    earliest: datetime.datetime
    latest: datetime.datetime

    def holds(self, moment: datetime.datetime) -> bool:
        return self.earliest <= moment <= self.latest

    def public(self) -> dict[str, str]:
        return {"earliest": rfc3339(self.earliest), "latest": rfc3339(self.latest)}


@dataclasses.dataclass(frozen=True)
class Source:
    """The source database of a restore, as the store holds it."""

    id: uuid.UUID
    name: str
    engine: Engine
    version: str
    window: Window | None


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a restore cannot happen: a stable reason code and a sentence."""

    reason: str
    detail: str


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def parse_restore(value: object, *, field: str = "restore") -> RestoreRequest:
    """The request's restore; raises `ValidationFailed` listing every problem of its shape."""
    if not isinstance(value, dict):
        raise errors.ValidationFailed([fields.not_an_object(field, value)])
    found = fields.unknown_fields(value, RESTORE_FIELDS, prefix=f"{field}.")
    backup_id = _uuid(value, "backup_id", field, found)
    database_id = _uuid(value, "database_id", field, found)
    moment = _moment(value, f"{field}.point_in_time", found)
    if backup_id is None and database_id is None and not found:
        found.append(
            errors.FieldError(
                field,
                errors.REQUIRED,
                "needs backup_id (restore a backup) or database_id and point_in_time "
                "(restore a database to a point in time)",
            )
        )
    if backup_id is not None and (database_id is not None or "point_in_time" in value):
        found.append(
            errors.FieldError(
                field,
                errors.INVALID_CHOICE,
                "backup_id cannot be combined with database_id or point_in_time",
            )
        )
    if database_id is not None and moment is None and "point_in_time" not in value:
        found.append(
            errors.FieldError(
                f"{field}.point_in_time",
                errors.REQUIRED,
                "is required with database_id (an RFC 3339 time such as 2026-12-08T01:02:03Z)",
            )
        )
    if found:
        raise errors.ValidationFailed(found)
    return RestoreRequest(backup_id=backup_id, database_id=database_id, point_in_time=moment)


def refuse_backup(
    backup: BackupRecord, source: Source, *, engine: Engine, version: str
) -> Refusal | None:
    """Why `backup` (of `source`) cannot be restored into a new `engine` `version`."""
    refusal = _refuse_kind(source, engine=engine, version=version)
    if refusal is not None:
        return refusal
    if backup.state is not BackupState.SUCCEEDED or not backup.snapshot:
        return Refusal(
            "backup-not-restorable",
            f"backup {backup.id} is {backup.state.value}"
            + (f" ({backup.error})" if backup.error else "")
            + ": only a succeeded backup with a Snapshot can be restored",
        )
    if backup.snapshot_deleted_at is not None:
        return Refusal(
            "backup-not-restorable",
            f"the Snapshot {backup.snapshot} of backup {backup.id} was deleted by retention",
        )
    return None


def refuse_point_in_time(
    source: Source, moment: datetime.datetime, *, engine: Engine, version: str
) -> Refusal | None:
    """Why `source` cannot be recovered to `moment` into a new `engine` `version`."""
    refusal = _refuse_kind(source, engine=engine, version=version)
    if refusal is not None:
        return refusal
    if source.engine not in PITR_ENGINES:
        return Refusal(
            "no-point-in-time-recovery",
            f"{source.engine.value} has no point-in-time recovery (KubeDB archives only "
            f"{', '.join(sorted(e.value for e in PITR_ENGINES))}); restore a backup instead",
        )
    if source.window is None:
        return Refusal(
            "no-point-in-time-recovery",
            f"database {source.name} has no restorable window: it is not archived "
            "(backup.pitr) or its first full backup has not finished",
        )
    if not source.window.holds(moment):
        return Refusal(
            "outside-window",
            f"{rfc3339(moment)} is outside the restorable window of {source.name}: "
            f"{rfc3339(source.window.earliest)} to {rfc3339(source.window.latest)}",
        )
    return None


def _refuse_kind(source: Source, *, engine: Engine, version: str) -> Refusal | None:
    if source.engine is not engine:
        return Refusal(
            "engine-mismatch",
            f"the source {source.name} is {source.engine.value}; "
            f"a {engine.value} database cannot restore it",
        )
    try:
        have, want = versions.parse_version(source.version), versions.parse_version(version)
    except ValueError:
        return Refusal(
            "version-incompatible", f"cannot compare version {version} with {source.version}"
        )
    if want.major != have.major or want < have:
        return Refusal(
            "version-incompatible",
            f"the source {source.name} runs {source.version}: restore into {have.major}.x at "
            f"{source.version} or newer, not {version}",
        )
    return None


def _uuid(
    body: dict[str, Any], key: str, field: str, found: list[errors.FieldError]
) -> uuid.UUID | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    found.append(
        errors.FieldError(f"{field}.{key}", errors.INVALID_TYPE, f"{value!r} is not an id (uuid)")
    )
    return None


def _moment(
    body: dict[str, Any], field: str, found: list[errors.FieldError]
) -> datetime.datetime | None:
    value = body.get("point_in_time")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(datetime.UTC)
    found.append(
        errors.FieldError(
            field,
            errors.INVALID_TYPE,
            f"{value!r} is not an RFC 3339 time with a zone (e.g. 2026-12-08T01:02:03Z)",
        )
    )
    return None

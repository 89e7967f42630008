"""Immutable snapshots of rows, as the stores return them.

Readers decide on these snapshots; writers never update a whole row from one (each process
updates only its own columns with targeted UPDATEs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from services.domain.planning import OperationType

DESIRED_FIELDS = (
    "version",
    "replicas",
    "storage",
    "cpu",
    "memory",
    "deletion_policy",
    "drift_policy",
    "backup",
)


class OperationState(str, Enum):
    """pending → running (a worker applies it) → waiting (KubeDB works) → succeeded | failed
    | cancelled. A str: it compares, serialises and binds to SQL as its value."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


OPEN_STATES = (OperationState.PENDING, OperationState.RUNNING, OperationState.WAITING)
ACTIVE_STATES = (OperationState.RUNNING, OperationState.WAITING)
TERMINAL_STATES = (OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED)


_FIELD_NAMES: dict[type[Any], frozenset[str]] = {}


def _field_names(cls: type[Any]) -> frozenset[str]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(field.name for field in dataclasses.fields(cls))
    return names


def _from_row(cls: type[Any], row: Mapping[str, Any]) -> Any:
    names = _field_names(cls)  # cached: dataclasses.fields() per row dominated list pages
    return cls(**{key: value for key, value in row.items() if key in names})


@dataclasses.dataclass(frozen=True)
class DatabaseRecord:
    id: uuid.UUID
    project_id: str
    name: str
    engine: str
    version: str
    replicas: int
    storage: str
    cpu: str | None
    memory: str | None
    deletion_policy: str
    drift_policy: str
    generation: int
    state: str
    phase: str | None
    observed_generation: int | None
    observed_spec: dict[str, Any] | None
    endpoint: str | None
    conditions: list[dict[str, Any]]
    status_message: str | None
    synced_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    backup: dict[str, Any] | None = None
    """The backup policy as the API shows it (`backups.BackupPolicy.public()`), or None."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DatabaseRecord:
        record: DatabaseRecord = _from_row(cls, row)
        return record

    @property
    def etag(self) -> str:
        return f'"{self.id.hex[:8]}-{self.generation}"'

    def desired(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DESIRED_FIELDS}


@dataclasses.dataclass(frozen=True)
class OperationRecord:
    id: uuid.UUID
    seq: int
    database_id: uuid.UUID
    project_id: str
    type: OperationType
    state: OperationState
    origin: str
    params: dict[str, Any]
    previous: dict[str, Any]
    generation: int
    k8s_kind: str | None
    k8s_name: str | None
    attempt: int
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    error: dict[str, Any] | None
    requested_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    enqueued_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OperationRecord:
        names = _field_names(cls)
        values = {key: value for key, value in row.items() if key in names}
        values["type"] = OperationType(values["type"])
        values["state"] = OperationState(values["state"])
        return cls(**values)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclasses.dataclass(frozen=True)
class EventRecord:
    id: int
    project_id: str
    database_id: uuid.UUID | None
    operation_id: uuid.UUID | None
    actor: str
    kind: str
    message: str
    details: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EventRecord:
        record: EventRecord = _from_row(cls, row)
        return record


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's identity, role and project."""

    key_id: uuid.UUID
    project_id: str
    role: str
    expires_at: dt.datetime | None = None
    """When the key stops working (None: never); bounds how long a cache may keep it."""

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

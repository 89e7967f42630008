"""Frozen snapshots the reconcilers decide on: a database row with what surrounds it.

Why here: status-sync's and drift's decisions are pure functions of these snapshots, so the
types live below every layer that uses them; `store.observed` fills them from one query
each, and nothing here does I/O. A drift pass reads every live database, so its snapshots
(`DesiredSnapshot`) hold only the columns drift compares, with repeated strings shared.
"""

from __future__ import annotations

import dataclasses
import sys
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from services.domain import engines, specs
from services.domain.manifests import desired_observed_spec
from services.domain.records import DESIRED_FIELDS, DatabaseRecord

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DatabaseSnapshot:
    """A database row with what the reconcilers decide on besides the row itself."""

    record: DatabaseRecord
    namespace: str
    last_create: str | None
    """State of the newest `create` operation, None when there is none."""
    open_operations: tuple[str, ...]
    """Types of pending, running and waiting operations, oldest first."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DatabaseSnapshot:
        return cls(
            record=DatabaseRecord.from_row(row),
            namespace=row["namespace"],
            last_create=row["last_create"],
            open_operations=tuple(row["open_operations"] or ()),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DesiredRecord:
    """The columns of a database row a drift pass compares or decides on: its identity,
    desired spec, generation and state (a `DatabaseRecord` without the observed status)."""

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
    backup: dict[str, Any] | None = None

    def desired(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DESIRED_FIELDS}


DESIRED_COLUMNS = tuple(field.name for field in dataclasses.fields(DesiredRecord))
_REPEATED = frozenset({"project_id", "engine", *DESIRED_FIELDS, "state"})
"""Columns whose values thousands of rows share (one copy each, see `_shared`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DesiredSnapshot:
    """What `DatabaseSnapshot` says of a database, around a `DesiredRecord`."""

    record: DesiredRecord
    namespace: str
    last_create: str | None
    open_operations: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DesiredSnapshot:
        columns = {
            column: _shared(row[column]) if column in _REPEATED else row[column]
            for column in DESIRED_COLUMNS
        }
        return cls(
            record=DesiredRecord(**columns),
            namespace=_shared(row["namespace"]),
            last_create=_shared(row["last_create"]),
            open_operations=tuple(_shared(t) for t in row["open_operations"] or ()),
        )


@dataclasses.dataclass(frozen=True)
class ObservedStatus:
    """The status-sync-owned columns of one database, as they should be."""

    phase: str | None
    observed_spec: dict[str, Any] | None
    observed_generation: int | None
    endpoint: str | None
    conditions: list[dict[str, Any]]
    status_message: str | None
    state: str

    @classmethod
    def of(cls, record: DatabaseRecord) -> ObservedStatus:
        """The status a row holds now."""
        return cls(
            phase=record.phase,
            observed_spec=record.observed_spec,
            observed_generation=record.observed_generation,
            endpoint=record.endpoint,
            conditions=list(record.conditions),
            status_message=record.status_message,
            state=record.state,
        )


def _shared(value: T) -> T:
    """One copy of a string many rows hold (engine, version, state, namespace...)."""
    if type(value) is str:
        return cast(T, sys.intern(cast(str, value)))
    return value


def desired_view(snapshot: DatabaseSnapshot | DesiredSnapshot) -> dict[str, Any]:
    """The desired spec as `observed_spec_from_cr` would read it from a faithful CR."""
    record = snapshot.record
    spec = specs.DatabaseSpec(
        name=record.name,
        engine=engines.Engine(record.engine),
        version=record.version,
        replicas=record.replicas,
        storage=record.storage,
        cpu=record.cpu,
        memory=record.memory,
        deletion_policy=record.deletion_policy,
        drift_policy=record.drift_policy,
    )
    return desired_observed_spec(spec)

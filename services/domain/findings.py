"""What a drift pass finds: fields that differ, corrections that would close them, orphans.

Why here: the drift comparison (`reconcilers.drift.compare`) produces these purely and the
correction use cases (`control.corrections`) consume them; a value type shared by two
layers lives below both. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from services.domain.planning import OperationType


@dataclasses.dataclass(frozen=True)
class FieldDrift:
    field: str
    desired: Any
    observed: Any

    def describe(self) -> str:
        return f"{self.field} {self.observed}→{self.desired}"


@dataclasses.dataclass(frozen=True)
class Correction:
    type: OperationType
    params: dict[str, Any]
    previous: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Drift:
    database_id: uuid.UUID
    project_id: str
    name: str
    generation: int
    policy: str
    missing: bool
    fields: tuple[FieldDrift, ...]
    corrections: tuple[Correction, ...]
    fingerprint: str

    def describe(self) -> str:
        if self.missing:
            return f"{self.name} missing"
        return f"{self.name} " + ", ".join(f.describe() for f in self.fields)


@dataclasses.dataclass(frozen=True)
class Orphan:
    namespace: str
    name: str
    kind: str
    database_id: uuid.UUID | None
    project_id: str | None
    fingerprint: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

"""Read what KubeDB reports on a database CR or an OpsRequest into plain, frozen facts.

Why: status-sync and drift decide on the same reading of a CR (phase, observed spec,
generations, endpoint, conditions, the message worth showing a user), and both must read an
OpsRequest's verdict the same way (KUBEDB-API.md §1.4, §2.4). This module is pure: it never
does I/O and never decides what to do about what it reads.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from services.domain import engines, manifests

OPS_SUCCEEDED = frozenset({"Successful"})
OPS_FAILED = frozenset({"Failed", "Denied"})
OPS_SUPERSEDED = frozenset({"Skipped"})
OPS_TERMINAL = OPS_SUCCEEDED | OPS_FAILED | OPS_SUPERSEDED


@dataclasses.dataclass(frozen=True)
class ObservedDatabase:
    """A database CR as KubeDB reports it."""

    namespace: str
    name: str
    engine: str
    phase: str | None
    spec: dict[str, Any]
    generation: int
    observed_generation: int
    conditions: list[dict[str, Any]]
    message: str | None
    endpoint: str
    terminating: bool

    @property
    def caught_up(self) -> bool:
        """KubeDB has processed the latest spec (`observedGeneration >= generation`)."""
        return self.observed_generation >= self.generation


@dataclasses.dataclass(frozen=True)
class OpsVerdict:
    """An OpsRequest's phase and, when it did not succeed, KubeDB's reason for it."""

    phase: str | None
    reason: str | None
    message: str | None

    @property
    def terminal(self) -> bool:
        return self.phase in OPS_TERMINAL


def database_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    """The `dbaas.io/database-id` label, None when absent or malformed."""
    return _uuid_label(obj, manifests.LABEL_DATABASE_ID)


def operation_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    """The `dbaas.io/operation-id` label of an OpsRequest."""
    return _uuid_label(obj, manifests.LABEL_OPERATION_ID)


def key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = _mapping(obj.get("metadata"))
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def observe_database(obj: Mapping[str, Any]) -> ObservedDatabase | None:
    """The facts of a DB CR; None for an object of no kind we manage."""
    facts = engines.by_kind(str(obj.get("kind") or ""))
    if facts is None or obj.get("kind") != facts.kind:
        return None
    meta = _mapping(obj.get("metadata"))
    status = _mapping(obj.get("status"))
    namespace, name = key(obj)
    conditions = [dict(c) for c in status.get("conditions") or () if isinstance(c, Mapping)]
    return ObservedDatabase(
        namespace=namespace,
        name=name,
        engine=facts.engine.value,
        phase=_text(status.get("phase")),
        spec=manifests.observed_spec_from_cr(facts.engine, obj),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        conditions=conditions,
        message=_message(conditions),
        endpoint=f"{name}.{namespace}.svc:{facts.port}",
        terminating=meta.get("deletionTimestamp") is not None,
    )


def ops_verdict(obj: Mapping[str, Any]) -> OpsVerdict:
    """The phase of an OpsRequest and the reason/message of its deciding condition."""
    status = _mapping(obj.get("status"))
    phase = _text(status.get("phase"))
    if phase not in OPS_FAILED | OPS_SUPERSEDED:
        return OpsVerdict(phase, None, None)
    conditions = [c for c in status.get("conditions") or () if isinstance(c, Mapping)]
    deciding = next((c for c in reversed(conditions) if c.get("type") == phase), None)
    if deciding is None:  # else the last condition that went wrong
        deciding = next((c for c in reversed(conditions) if c.get("status") == "False"), None)
    if deciding is None:
        return OpsVerdict(phase, phase, None)
    return OpsVerdict(phase, _text(deciding.get("reason")) or phase, _text(deciding.get("message")))


def _message(conditions: list[dict[str, Any]]) -> str | None:
    """What a user should read: the first failing condition, else the Ready condition's."""
    for condition in conditions:
        if condition.get("status") == "False" and condition.get("message"):
            return str(condition["message"])
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("message"):
        return str(ready["message"])
    return None


def _uuid_label(obj: Mapping[str, Any], label: str) -> uuid.UUID | None:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    value = labels.get(label)
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str | None:
    return None if value is None else str(value)

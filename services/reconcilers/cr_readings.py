"""Read what KubeDB reports on a database CR or an OpsRequest into plain, frozen facts.

Why: status-sync and drift decide on the same reading of a CR (phase, observed spec,
generations, endpoint, conditions, the message worth showing a user), and both must read an
OpsRequest's verdict the same way (KUBEDB-API.md §1.4, §2.4). The readings are also what
they keep in memory: status-sync holds one per database it mirrors and drift one per CR it
lists, so a reading is compact (about a tenth of the CR it came from): only the fields
they decide on, strings that repeat across CRs shared, conditions packed (compressed JSON:
KubeDB's messages name their database, so they cannot be shared, and as objects they were
half of what status-sync held). This module is pure: it never does I/O and never decides
what to do about what it reads.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from services.domain import backup_readings, engines, manifests
from services.domain.backup_readings import ConfigurationReading, SessionReading, SnapshotReading
from services.domain.resources import BACKUP_CONFIGURATION, BACKUP_SESSION, SNAPSHOT

OPS_SUCCEEDED = frozenset({"Successful"})
OPS_FAILED = frozenset({"Failed", "Denied"})
OPS_SUPERSEDED = frozenset({"Skipped"})
OPS_TERMINAL = OPS_SUCCEEDED | OPS_FAILED | OPS_SUPERSEDED

T = TypeVar("T")


class Condition(NamedTuple):
    """One condition of a CR's status, with the fields of KubeDB's (kmapi) Condition type;
    None where the CR left a field out. Other keys a condition might carry are not kept."""

    type: str | None
    status: str | None
    reason: str | None
    message: str | None
    severity: str | None
    observed_generation: int | None
    last_transition_time: str | None

    def as_dict(self) -> dict[str, Any]:
        """The condition as the CR states it (the fields it had, KubeDB's key names)."""
        return {
            key: value
            for key, value in zip(_CONDITION_KEYS, self, strict=True)
            if value is not None
        }


_CONDITION_KEYS = (
    "type",
    "status",
    "reason",
    "message",
    "severity",
    "observedGeneration",
    "lastTransitionTime",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedDatabase:
    """A database CR as KubeDB reports it."""

    namespace: str
    name: str
    engine: str
    phase: str | None
    spec: dict[str, Any]
    """The desired-spec fields as the CR states them (`manifests.observed_spec_from_cr`);
    shared between readings that state the same spec: never mutate it."""
    generation: int
    observed_generation: int
    packed_conditions: bytes
    """The conditions, packed (`condition_facts` unpacks them)."""
    terminating: bool
    database_id: uuid.UUID | None = None
    """The `dbaas.io/database-id` label."""
    project: str | None = None
    """The `dbaas.io/project` label."""
    uid: str = ""
    resource_version: str = ""

    @property
    def caught_up(self) -> bool:
        """KubeDB has processed the latest spec (`observedGeneration >= generation`)."""
        return self.observed_generation >= self.generation

    @property
    def kind(self) -> str:
        return engines.spec_for(self.engine).kind

    @property
    def condition_facts(self) -> tuple[Condition, ...]:
        """The conditions as the CR states them, in its order (a fresh tuple each time)."""
        return _unpack_conditions(self.packed_conditions)

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """The conditions as the CR states them (a fresh list: callers may keep it)."""
        return [condition.as_dict() for condition in self.condition_facts]

    @property
    def message(self) -> str | None:
        """What a user should read (`message_of` its conditions)."""
        return message_of(self.condition_facts)

    @property
    def endpoint(self) -> str:
        return f"{self.name}.{self.namespace}.svc:{engines.spec_for(self.engine).port}"


def message_of(conditions: Sequence[Condition]) -> str | None:
    """What a user should read: the first failing condition, else the Ready condition's."""
    for condition in conditions:
        if condition.status == "False" and condition.message:
            return condition.message
    ready = next((c for c in conditions if c.type == "Ready"), None)
    return ready.message if ready is not None and ready.message else None


BackupObjectReading = SessionReading | SnapshotReading | ConfigurationReading
"""What status-sync keeps of a BackupSession, Snapshot or BackupConfiguration."""
Reading = dict[str, Any] | ObservedDatabase | BackupObjectReading
"""What status-sync keeps of a watched object (`compact`)."""
_BACKUP_READERS: dict[str, Callable[[Mapping[str, Any]], BackupObjectReading]] = {
    BACKUP_SESSION.kind: backup_readings.read_session,
    SNAPSHOT.kind: backup_readings.read_snapshot,
    BACKUP_CONFIGURATION.kind: backup_readings.read_configuration,
}


@dataclasses.dataclass(frozen=True)
class OpsVerdict:
    """An OpsRequest's phase and, when it did not succeed, KubeDB's reason for it."""

    phase: str | None
    reason: str | None
    message: str | None

    @property
    def terminal(self) -> bool:
        return self.phase in OPS_TERMINAL


def database_id(obj: Mapping[str, Any] | ObservedDatabase) -> uuid.UUID | None:
    """The `dbaas.io/database-id` label, None when absent or malformed."""
    if isinstance(obj, ObservedDatabase):
        return obj.database_id
    return _uuid_label(obj, manifests.LABEL_DATABASE_ID)


def operation_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    """The `dbaas.io/operation-id` label of an OpsRequest."""
    return _uuid_label(obj, manifests.LABEL_OPERATION_ID)


def key(obj: Mapping[str, Any] | ObservedDatabase) -> tuple[str, str]:
    if isinstance(obj, ObservedDatabase):
        return obj.namespace, obj.name
    meta = _mapping(obj.get("metadata"))
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def resource_version(obj: Mapping[str, Any] | ObservedDatabase) -> str:
    if isinstance(obj, ObservedDatabase):
        return obj.resource_version
    return str(_mapping(obj.get("metadata")).get("resourceVersion") or "")


def observe_database(
    obj: Mapping[str, Any] | ObservedDatabase, *, with_conditions: bool = True
) -> ObservedDatabase | None:
    """The facts of a DB CR; None for an object of no kind we manage. A reading is
    returned as it is (status-sync's mirror holds readings, not CRs). Without conditions
    (drift decides on the spec alone) the reading has none, and so no message."""
    if isinstance(obj, ObservedDatabase):
        return obj
    facts = engines.by_kind(str(obj.get("kind") or ""))
    if facts is None or obj.get("kind") != facts.kind:
        return None
    meta = _mapping(obj.get("metadata"))
    labels = _mapping(meta.get("labels"))
    status = _mapping(obj.get("status"))
    namespace, name = key(obj)
    spec = manifests.observed_spec_from_cr(facts.engine, obj)
    project = labels.get(manifests.LABEL_PROJECT)
    return ObservedDatabase(
        namespace=_shared(namespace),
        name=name,
        engine=facts.engine.value,
        phase=_shared_text(status.get("phase")),
        spec=_shared_spec(spec),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        packed_conditions=_pack_conditions(status.get("conditions") if with_conditions else ()),
        terminating=meta.get("deletionTimestamp") is not None,
        database_id=database_id(obj),
        project=_shared(project) if isinstance(project, str) else None,
        uid=str(meta.get("uid") or ""),
        resource_version=resource_version(obj),
    )


def compact_ops_request(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an OpsRequest status-sync decides on, in the OpsRequest's own shape:
    name, namespace, our labels, versions, type, database reference, phase and conditions
    (type, status, reason, message). What `ops_verdict`, `key` and `operation_id` read."""
    meta = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    status = _mapping(obj.get("status"))
    labels = _mapping(meta.get("labels"))
    ours = (manifests.LABEL_DATABASE_ID, manifests.LABEL_OPERATION_ID, manifests.LABEL_PROJECT)
    metadata: dict[str, Any] = {
        "name": meta.get("name"),
        "namespace": _shared(meta.get("namespace")),
        "labels": {label: labels[label] for label in ours if label in labels},
    }
    for field in ("generation", "resourceVersion", "deletionTimestamp"):
        if meta.get(field) is not None:
            metadata[field] = meta[field]
    ref = _mapping(spec.get("databaseRef"))
    conditions = [
        {field: _shared(c[field]) for field in _CONDITION_KEYS[:4] if field in c}
        for c in status.get("conditions") or ()
        if isinstance(c, Mapping)
    ]
    compact: dict[str, Any] = {
        "kind": _shared(obj.get("kind")),
        "metadata": metadata,
        "spec": {"type": _shared(spec.get("type")), "databaseRef": {"name": ref.get("name")}},
        "status": {"phase": _shared(status.get("phase")), "conditions": conditions},
    }
    if "observedGeneration" in status:
        compact["status"]["observedGeneration"] = status["observedGeneration"]
    return compact


def compact(obj: dict[str, Any]) -> Reading:
    """What to keep of a listed or watched object: the reading of a database CR, of a
    BackupSession, Snapshot or BackupConfiguration (`backup_readings`), the compact copy of
    an OpsRequest, any other object as it is."""
    kind = str(obj.get("kind") or "")
    read_backup = _BACKUP_READERS.get(kind)
    if read_backup is not None:  # first: at 30 Snapshots per database, most objects are
        return read_backup(obj)
    facts = engines.by_kind(kind)
    if facts is None:
        return obj
    if kind == facts.kind:
        return observe_database(obj) or obj
    return compact_ops_request(obj)


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


def _pack_conditions(raw: object) -> bytes:
    """The conditions (mappings; anything else is skipped) as compressed JSON: one array of
    the `Condition` fields per condition. b"" for none."""
    if not isinstance(raw, list | tuple) or not raw:
        return b""
    rows = [
        [
            *(_text(c.get(key)) for key in _CONDITION_KEYS[:5]),
            generation if isinstance((generation := c.get("observedGeneration")), int) else None,
            _text(c.get("lastTransitionTime")),
        ]
        for c in raw
        if type(c) is dict or isinstance(c, Mapping)
    ]
    if not rows:
        return b""
    return zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 1)


def _unpack_conditions(packed: bytes) -> tuple[Condition, ...]:
    if not packed:
        return ()
    return tuple(
        Condition._make(sys.intern(v) if type(v) is str else v for v in row)
        for row in json.loads(zlib.decompress(packed))
    )


def _shared(value: T) -> T:
    """One copy of a string many readings hold (phases, reasons, versions, timestamps):
    interned strings are freed again once no reading holds them."""
    if type(value) is str:
        return cast(T, sys.intern(cast(str, value)))
    return value


_SPECS: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
_SPECS_KEPT = 4096


def _shared_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One dict per distinct observed spec, shared by every reading that states it.

    Most databases state one of a few specs (engine version, replicas, storage), and a
    spec's dict is the largest part of a reading (what sharing saves: bench/README.md).
    Readers never mutate a reading's spec. At most _SPECS_KEPT distinct specs are kept;
    past that the cache starts over (readings keep their dicts either way)."""
    try:
        key = tuple(spec.items())
        return _SPECS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: this spec is not shared
        return {field: _shared(value) for field, value in spec.items()}
    if len(_SPECS) >= _SPECS_KEPT:
        _SPECS.clear()
    shared = _SPECS[key] = {field: _shared(value) for field, value in spec.items()}
    return shared


def _shared_text(value: object) -> str | None:
    """`value` as text (None stays None), one copy per distinct string (see `_shared`)."""
    return None if value is None else sys.intern(str(value))


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
    if type(value) is dict:  # what JSON gives: skip the slower ABC check
        return value
    return value if isinstance(value, Mapping) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# What the list-then-watch threads (`listwatch`) hand the reconcile loop: defined here, with
# the readings they carry, so the loop's pure parts need not load the Kubernetes client.
@dataclasses.dataclass(frozen=True)
class Listed:
    """A complete list of one resource, as readings: it replaces everything known of it."""

    plural: str
    items: tuple[Reading, ...]


@dataclasses.dataclass(frozen=True)
class Changed:
    """One watch event (ADDED, MODIFIED or DELETED), the object as its reading."""

    plural: str
    type: str
    obj: Reading


Item = Listed | Changed

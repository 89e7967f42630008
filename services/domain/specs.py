"""The desired spec of a database and the validation of create and patch requests.

Why: the API must reject a bad request with every problem listed at once and a stable code
per problem, before anything is written; and it must turn an accepted PATCH into a new
spec plus the operations that carry it out. All of that is decided here, purely, from the
request body and a snapshot of the version catalog. No I/O, no HTTP.

Rules (beyond types, which are strict: `true` is not an integer and `"3"` is not one):
- name: see `naming` (DNS-1123 label starting with a letter, <= 42 characters); immutable.
- engine: postgres | mysql | mongodb | redis; immutable.
- version: a catalog entry (`metadata.name`) of that engine, not deprecated; a change must be
  an upgrade the current version's update constraints allow.
- replicas: 1 (standalone) or the engine's replicated range (`engines`); default 1. Crossing
  standalone <-> replicated is refused except for Postgres.
- storage: a quantity of whole bytes in 1Gi..64Ti; it may only grow.
- resources: an object with only `cpu` (100m..64 cores, whole millicores) and `memory`
  (128Mi..512Gi, whole bytes), each optional; null (or absent at creation) leaves the
  setting to KubeDB's defaults.
- deletion_policy: Delete (default) | Halt | WipeOut | DoNotTerminate.
- drift_policy: correct (default) | report.
- backup: a scheduled-backup policy or null (default); see `backups` for its rules. A PATCH
  merges an object into the current policy (JSON merge patch: `{"backup": {"pitr": true}}`
  keeps the schedule and retention) and null removes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from services.domain import (
    backups,
    engines,
    errors,
    fields,
    naming,
    planning,
    quantities,
    versions,
)
from services.domain.backups import BackupPolicy
from services.domain.engines import Engine
from services.domain.planning import PlannedOperation, plan_operations

__all__ = [
    "DELETION_POLICIES",
    "DRIFT_POLICIES",
    "DatabaseSpec",
    "PlannedOperation",
    "SpecChange",
    "plan_operations",
    "validate_create",
    "validate_patch",
]

DELETION_POLICIES = ("Delete", "Halt", "WipeOut", "DoNotTerminate")
DEFAULT_DELETION_POLICY = "Delete"
DRIFT_POLICIES = ("correct", "report")
DEFAULT_DRIFT_POLICY = "correct"

Catalog = Mapping[str, Sequence[versions.CatalogVersion]]


STORAGE_RANGE = fields.QuantityRange("1Gi", "64Ti", 0, "bytes")
CPU_RANGE = fields.QuantityRange("100m", "64", 3, "millicores")
MEMORY_RANGE = fields.QuantityRange("128Mi", "512Gi", 0, "bytes")

CREATE_FIELDS = (
    "name",
    "engine",
    "version",
    "replicas",
    "storage",
    "resources",
    "deletion_policy",
    "drift_policy",
    "backup",
)
PATCH_FIELDS = (
    "version",
    "replicas",
    "storage",
    "resources",
    "deletion_policy",
    "drift_policy",
    "backup",
)
IMMUTABLE_FIELDS = ("name", "engine")
RESOURCE_FIELDS = ("cpu", "memory")


@dataclasses.dataclass(frozen=True)
class DatabaseSpec:
    """What the user asked for: the desired spec, as stored in the `databases` row."""

    name: str
    engine: Engine
    version: str
    replicas: int
    storage: str
    cpu: str | None = None
    memory: str | None = None
    deletion_policy: str = DEFAULT_DELETION_POLICY
    drift_policy: str = DEFAULT_DRIFT_POLICY
    backup: BackupPolicy | None = None

    def __post_init__(self) -> None:
        # Rows and JSON carry the engine as a plain string; keep the enum inside.
        if not isinstance(self.engine, Engine):
            object.__setattr__(self, "engine", Engine(self.engine))

    @property
    def engine_spec(self) -> engines.EngineSpec:
        return engines.spec_for(self.engine)

    @property
    def topology(self) -> engines.Topology:
        return self.engine_spec.topology(self.replicas)

    def columns(self) -> dict[str, Any]:
        """The `databases` columns of the desired spec (flat, JSON-ready)."""
        return {
            "name": self.name,
            "engine": self.engine.value,
            "version": self.version,
            "replicas": self.replicas,
            "storage": self.storage,
            "cpu": self.cpu,
            "memory": self.memory,
            "deletion_policy": self.deletion_policy,
            "drift_policy": self.drift_policy,
            "backup": None if self.backup is None else self.backup.public(),
        }

    def public(self) -> dict[str, Any]:
        """The spec as the API shows it (resources nested)."""
        fields = self.columns()
        resources = {"cpu": fields.pop("cpu"), "memory": fields.pop("memory")}
        return {**fields, "resources": resources}

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> DatabaseSpec:
        """Rebuild from a `databases` row (or `columns()` output); trusts stored values."""
        return cls(
            name=row["name"],
            engine=Engine(row["engine"]),
            version=row["version"],
            replicas=int(row["replicas"]),
            storage=row["storage"],
            cpu=row.get("cpu"),
            memory=row.get("memory"),
            deletion_policy=row.get("deletion_policy") or DEFAULT_DELETION_POLICY,
            drift_policy=row.get("drift_policy") or DEFAULT_DRIFT_POLICY,
            backup=BackupPolicy.from_public(row.get("backup")),
        )


@dataclasses.dataclass(frozen=True)
class SpecChange:
    """The outcome of an accepted PATCH: the new spec, what changed, and what to do."""

    spec: DatabaseSpec
    changed: tuple[str, ...]  # names of DatabaseSpec fields whose value changed
    operations: tuple[PlannedOperation, ...]

    @property
    def is_noop(self) -> bool:
        return not self.changed


def validate_create(body: object, *, catalog: Catalog) -> DatabaseSpec:
    """The spec a create request asks for; raises `ValidationFailed` listing every problem."""
    if not isinstance(body, dict):
        raise errors.ValidationFailed([fields.not_an_object("", body)])
    found: list[errors.FieldError] = []
    found += fields.unknown_fields(body, CREATE_FIELDS)

    name = fields.required_string(body, "name", found)
    if name is not None:
        found += naming.check_name(name)

    engine: Engine | None = None
    engine_name = fields.required_string(body, "engine", found)
    if engine_name is not None:
        engine = engines.parse_engine(engine_name)
        if engine is None:
            found.append(_unknown_engine(engine_name))

    version = fields.required_string(body, "version", found)
    if version is not None and engine is not None:
        _check_new_version(engine, version, catalog, found)

    replicas = fields.optional_integer(body, "replicas", default=1, found=found)
    if replicas is not None:
        if engine is not None:
            _check_replicas_for_create(engine, replicas, found)
        elif replicas < 1:
            found.append(errors.FieldError("replicas", errors.OUT_OF_RANGE, "must be at least 1"))

    storage = fields.required_string(body, "storage", found)
    if storage is not None:
        _append(found, STORAGE_RANGE.check("storage", storage))

    cpu, memory = _resources_for_create(body, found)
    deletion_policy = fields.choice(
        body, "deletion_policy", DELETION_POLICIES, default=DEFAULT_DELETION_POLICY, found=found
    )
    drift_policy = fields.choice(
        body, "drift_policy", DRIFT_POLICIES, default=DEFAULT_DRIFT_POLICY, found=found
    )

    backup = backups.check_backup(body.get("backup"), engine=engine, field="backup", found=found)

    if found:
        raise errors.ValidationFailed(found)
    assert name is not None and engine is not None and version is not None
    assert replicas is not None and storage is not None
    return DatabaseSpec(
        name=name,
        engine=engine,
        version=version,
        replicas=replicas,
        storage=storage,
        cpu=cpu,
        memory=memory,
        deletion_policy=deletion_policy or DEFAULT_DELETION_POLICY,
        drift_policy=drift_policy or DEFAULT_DRIFT_POLICY,
        backup=backup,
    )


def validate_patch(current: DatabaseSpec, body: object, *, catalog: Catalog) -> SpecChange:
    """Apply a JSON merge patch to `current`; raises `ValidationFailed` listing every problem.

    An empty patch, or one that only repeats current values, is accepted with no changes.
    Values equal by quantity keep their current spelling.
    """
    if not isinstance(body, dict):
        raise errors.ValidationFailed([fields.not_an_object("", body)])
    found: list[errors.FieldError] = []
    found += fields.unknown_fields(body, PATCH_FIELDS + IMMUTABLE_FIELDS)
    for field in IMMUTABLE_FIELDS:
        # Engine is a str enum, so "postgres" == Engine.POSTGRES.
        if field in body and body[field] != getattr(current, field):
            found.append(
                errors.FieldError(field, errors.IMMUTABLE, "cannot be changed after creation")
            )

    changes: dict[str, Any] = {}
    version = fields.patched_string(body, "version", found)
    if version is not None and version != current.version:
        _check_upgrade(current, version, catalog, found)
        changes["version"] = version

    replicas = fields.patched_integer(body, "replicas", found)
    if replicas is not None and replicas != current.replicas:
        _check_replicas_for_patch(current, replicas, found)
        changes["replicas"] = replicas

    storage = fields.patched_string(body, "storage", found)
    if storage is not None:
        problem = STORAGE_RANGE.check("storage", storage)
        if problem is not None:
            found.append(problem)
        elif quantities.compare_quantities(storage, current.storage) < 0:
            found.append(
                errors.FieldError(
                    "storage",
                    errors.STORAGE_SHRINK,
                    f"storage can only grow: {storage} is smaller than {current.storage}",
                )
            )
        elif not quantities.same_quantity(storage, current.storage):
            changes["storage"] = storage

    changes.update(_resources_for_patch(current, body, found))

    for field, choices in (
        ("deletion_policy", DELETION_POLICIES),
        ("drift_policy", DRIFT_POLICIES),
    ):
        value = fields.patched_string(body, field, found)
        if value is None:
            continue
        if value not in choices:
            found.append(fields.invalid_choice(field, value, choices))
        elif value != getattr(current, field):
            changes[field] = value

    if "backup" in body:
        before = len(found)
        asked = merge_backup(current.backup, body["backup"])
        policy = backups.check_backup(asked, engine=current.engine, field="backup", found=found)
        if len(found) == before and policy != current.backup:
            changes["backup"] = policy

    if found:
        raise errors.ValidationFailed(found)
    new = dataclasses.replace(current, **changes)
    return SpecChange(
        spec=new,
        changed=tuple(f.name for f in dataclasses.fields(DatabaseSpec) if f.name in changes),
        operations=tuple(planning.plan_operations(current, new)),
    )


def merge_backup(current: BackupPolicy | None, patch: object) -> object:
    """The `backup` value a PATCH asks for (JSON merge patch, RFC 7386): an object merges
    into the current policy, a null member of it restores that member's default; inside
    `retention` a null stays a value (no limit on that axis), as at creation. Anything
    else (null, a wrong type) replaces the policy and is validated as it is."""
    if not isinstance(patch, dict) or current is None:
        return patch
    merged: dict[str, Any] = current.public()
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key == "retention" and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


# -- versions --------------------------------------------------------------------------


def find_version(catalog: Catalog, engine: Engine, name: str) -> versions.CatalogVersion | None:
    for entry in catalog.get(engine.value, ()):
        if entry.name == name:
            return entry
    return None


SUGGESTED_VERSIONS = 10


def _offered(catalog: Catalog, engine: Engine, wanted: str | None = None) -> str:
    """The versions to suggest instead of `wanted`: those of its major version, nearest to
    it first (Postgres "16" suggests 16.13, not 18.3), else every offered one."""
    offered = [v.name for v in catalog.get(engine.value, ()) if not v.deprecated]
    if not offered:
        return f"the catalog has no {engine.value} versions"
    target = _numeric(wanted) if wanted is not None else None
    if wanted is not None and target is not None:
        same_major = [name for name in offered if (_numeric(name) or (-1,))[0] == target[0]]
        if same_major:
            given = len(wanted.split("-")[0].split("."))
            nearest = sorted(same_major, key=lambda name: _distance(name, target, given))
            return "nearest offered: " + _first(nearest)
    return "available: " + _first(offered)


def _first(names: list[str]) -> str:
    more = ", ..." if len(names) > SUGGESTED_VERSIONS else ""
    return ", ".join(names[:SUGGESTED_VERSIONS]) + more


def _numeric(text: str) -> tuple[int, int, int] | None:
    try:
        parsed = versions.parse_version(text)
    except ValueError:
        return None
    return (parsed.major, parsed.minor, parsed.patch)


def _distance(name: str, target: tuple[int, int, int], given: int) -> tuple[int, ...]:
    """Closest in the parts the user gave (major only: any), then the newest first."""
    numbers = _numeric(name) or (0, 0, 0)
    closeness = tuple(abs(numbers[i] - target[i]) for i in range(1, min(given, 3)))
    return (*closeness, -numbers[1], -numbers[2])


def _check_new_version(
    engine: Engine, version: str, catalog: Catalog, found: list[errors.FieldError]
) -> versions.CatalogVersion | None:
    entry = find_version(catalog, engine, version)
    if entry is None:
        found.append(
            errors.FieldError(
                "version",
                errors.UNKNOWN_VERSION,
                f"{engine.value} version {version!r} is not in the catalog; "
                f"{_offered(catalog, engine, version)}",
            )
        )
    elif entry.deprecated:
        found.append(
            errors.FieldError(
                "version",
                errors.DEPRECATED_VERSION,
                f"{engine.value} version {version!r} is deprecated; "
                f"{_offered(catalog, engine, version)}",
            )
        )
    return entry


def _check_upgrade(
    current: DatabaseSpec, version: str, catalog: Catalog, found: list[errors.FieldError]
) -> None:
    target = _check_new_version(current.engine, version, catalog, found)
    if target is None or target.deprecated:
        return
    source = find_version(catalog, current.engine, current.version)
    if source is None:
        reason: str | None = (
            f"the current version {current.version!r} is no longer in the catalog, "
            "so no upgrade path can be checked"
        )
    else:
        reason = versions.check_upgrade(source, target, topology=upgrade_topology(current))
    if reason is not None:
        found.append(
            errors.FieldError(
                "version",
                errors.UPGRADE_NOT_ALLOWED,
                f"cannot change version from {current.version} to {version}: {reason}",
            )
        )


def upgrade_topology(spec: DatabaseSpec) -> str:
    """The topology name the catalog's update constraints are keyed by."""
    if spec.topology is engines.Topology.STANDALONE:
        return versions.STANDALONE
    return "groupReplication" if spec.engine is Engine.MYSQL else "replicated"


# -- replicas --------------------------------------------------------------------------


def _replicas_rule(engine: Engine) -> str:
    spec = engines.spec_for(engine)
    return (
        f"{engine.value} allows {spec.standalone} replica (standalone) or "
        f"{spec.replicated} ({spec.replicated_topology})"
    )


def _check_replicas_for_create(
    engine: Engine, replicas: int, found: list[errors.FieldError]
) -> None:
    if not engines.spec_for(engine).accepts(replicas):
        found.append(
            errors.FieldError(
                "replicas", errors.OUT_OF_RANGE, f"{_replicas_rule(engine)}; got {replicas}"
            )
        )


def _check_replicas_for_patch(
    current: DatabaseSpec, replicas: int, found: list[errors.FieldError]
) -> None:
    spec = current.engine_spec
    if not spec.accepts(replicas):
        _check_replicas_for_create(current.engine, replicas, found)
    elif not spec.can_scale(current.replicas, replicas):
        found.append(
            errors.FieldError(
                "replicas",
                errors.TOPOLOGY_CHANGE,
                f"{current.engine.value} cannot change from {current.replicas} to {replicas} "
                f"replicas: that converts between standalone and {spec.replicated_topology}, "
                "which KubeDB cannot do in place; create a new database instead",
            )
        )


# -- resources -------------------------------------------------------------------------


def _resources_for_create(
    body: Mapping[str, Any], found: list[errors.FieldError]
) -> tuple[str | None, str | None]:
    resources = body.get("resources")
    if resources is None:
        return None, None
    if not isinstance(resources, dict):
        found.append(fields.wrong_type("resources", "an object with cpu and/or memory", resources))
        return None, None
    found += fields.unknown_fields(resources, RESOURCE_FIELDS, prefix="resources.")
    cpu = _resource_value(resources, "cpu", CPU_RANGE, found)
    memory = _resource_value(resources, "memory", MEMORY_RANGE, found)
    return cpu, memory


def _resources_for_patch(
    current: DatabaseSpec, body: Mapping[str, Any], found: list[errors.FieldError]
) -> dict[str, str | None]:
    if "resources" not in body:
        return {}
    resources = body["resources"]
    if resources is None:
        resources = {"cpu": None, "memory": None}
    if not isinstance(resources, dict):
        found.append(
            fields.wrong_type("resources", "an object with cpu and/or memory, or null", resources)
        )
        return {}
    found += fields.unknown_fields(resources, RESOURCE_FIELDS, prefix="resources.")
    changes: dict[str, str | None] = {}
    for field, rule in (("cpu", CPU_RANGE), ("memory", MEMORY_RANGE)):
        if field not in resources:
            continue
        value = _resource_value(resources, field, rule, found)
        if value is None and resources[field] is not None:
            continue  # invalid, already reported
        if not quantities.same_quantity(value, getattr(current, field)):
            changes[field] = value
    return changes


def _resource_value(
    resources: Mapping[str, Any],
    field: str,
    rule: fields.QuantityRange,
    found: list[errors.FieldError],
) -> str | None:
    value = resources.get(field)
    if value is None:
        return None
    path = f"resources.{field}"
    if not isinstance(value, str):
        found.append(fields.wrong_type(path, f"a quantity string such as {rule.minimum!r}", value))
        return None
    problem = rule.check(path, value)
    if problem is not None:
        found.append(problem)
        return None
    return value


def _unknown_engine(name: str) -> errors.FieldError:
    known = ", ".join(engine.value for engine in Engine)
    return errors.FieldError("engine", errors.UNKNOWN_ENGINE, f"{name!r} is not one of {known}")


def _append(found: list[errors.FieldError], problem: errors.FieldError | None) -> None:
    if problem is not None:
        found.append(problem)

"""Project quotas, pure: what a project may hold and what it holds.

Why: without them one operator key asked for 20 databases of 9 replicas x 64Ti x 64 CPU
x 512Gi in a quarter of a second, and every one was accepted. A project may hold at most
`databases` live databases, and its live databases together at most `storage`, `cpu` and
`memory` (each database counted as replicas x its size); one database may have at most
`waiting_operations` operations queued. A limit of None is no limit.

The control layer reads the usage and checks a change under the project's lock, in the
change's own transaction; this module only counts and compares, and never does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from services.domain import errors, fields, quantities

UNSET_CPU = Decimal("0.5")
"""What a database without a cpu request counts as: KubeDB's default request (500m)."""
UNSET_MEMORY = Decimal(1024**3)
"""What a database without a memory request counts as: KubeDB's default request (1Gi)."""
AMOUNTS = ("storage", "cpu", "memory")
FIELDS = ("databases", *AMOUNTS, "waiting_operations")


@dataclasses.dataclass(frozen=True)
class Limits:
    databases: int | None = None
    storage: Decimal | None = None
    cpu: Decimal | None = None
    memory: Decimal | None = None
    waiting_operations: int | None = None
    """Per database: its operations pending, running or waiting."""

    def overridden(self, overrides: Mapping[str, Any]) -> Limits:
        """These limits with a project's own values where it has one: None keeps ours, 0 is
        no limit."""
        changes = {name: (value or None) for name, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Usage:
    databases: int = 0
    storage: Decimal = Decimal(0)
    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)

    def plus(self, size: Size) -> Usage:
        return Usage(
            self.databases + 1,
            self.storage + size.storage,
            self.cpu + size.cpu,
            self.memory + size.memory,
        )

    def minus(self, size: Size) -> Usage:
        return Usage(
            self.databases - 1,
            self.storage - size.storage,
            self.cpu - size.cpu,
            self.memory - size.memory,
        )


@dataclasses.dataclass(frozen=True)
class Size:
    """What one database takes: replicas x each of its amounts."""

    storage: Decimal
    cpu: Decimal
    memory: Decimal


def size_of(*, replicas: int, storage: str, cpu: str | None, memory: str | None) -> Size:
    per_replica_cpu = quantities.parse_quantity(cpu) if cpu else UNSET_CPU
    per_replica_memory = quantities.parse_quantity(memory) if memory else UNSET_MEMORY
    return Size(
        storage=replicas * quantities.parse_quantity(storage),
        cpu=replicas * per_replica_cpu,
        memory=replicas * per_replica_memory,
    )


def usage_of(sizes: Iterable[Size]) -> Usage:
    usage = Usage()
    for size in sizes:
        usage = usage.plus(size)
    return usage


@dataclasses.dataclass(frozen=True)
class Excess:
    quota: str
    limit: str | int
    used: str | int
    requested: str | int

    def describe(self) -> str:
        return (
            f"quota {self.quota} exceeded: the project uses {self.used} of {self.limit}, "
            f"and this request would make it {self.requested}"
        )


def render(name: str, value: Decimal | int) -> str | int:
    """How a limit or an amount reads in answers: counts as numbers, amounts as quantities
    (bytes with binary suffixes, CPU in cores or millicores)."""
    if name in AMOUNTS:
        return quantities.format_quantity(Decimal(value), binary=name != "cpu")
    return int(value)


def excess(limits: Limits, before: Usage, after: Usage) -> Excess | None:
    """The first quota `after` exceeds where it grew from `before`; None when all hold. A
    change that shrinks or keeps a figure passes even over a limit lowered meanwhile."""
    for name in ("databases", *AMOUNTS):
        limit = getattr(limits, name)
        old, new = getattr(before, name), getattr(after, name)
        if limit is not None and new > old and new > limit:
            return Excess(name, render(name, limit), render(name, old), render(name, new))
    return None


def report(limits: Limits, usage: Usage) -> dict[str, Any]:
    """`GET /v1/quota`'s body: each quota's limit (null: none) and use."""
    body: dict[str, Any] = {}
    for name in ("databases", *AMOUNTS):
        limit = getattr(limits, name)
        body[name] = {
            "limit": None if limit is None else render(name, limit),
            "used": render(name, getattr(usage, name)),
        }
    body["waiting_operations"] = {"limit": limits.waiting_operations, "per": "database"}
    return body


COUNT_MAX = 1_000_000
"""The largest count a project's own limit may be (databases, waiting operations)."""


def parse_overrides(body: object) -> dict[str, Any]:
    """A project's own limits from an admin's request: each field a count (an integer, 0 for
    no limit) or, for storage, cpu and memory, a quantity (`"2Ti"`, `"64"`, `"0"` for no
    limit); null puts the server's default back. Returned as stored: counts as int,
    amounts as canonical quantity strings. At least one field; every problem listed."""
    if not isinstance(body, Mapping):
        raise errors.ValidationFailed([fields.not_an_object("", body)])
    found = fields.unknown_fields(body, FIELDS)
    if not body:
        found.append(
            errors.FieldError("", errors.REQUIRED, f"set at least one of {', '.join(FIELDS)}")
        )
    values: dict[str, Any] = {}
    for name in FIELDS:
        if name not in body:
            continue
        value = body[name]
        if value is None:
            values[name] = None
        elif name in AMOUNTS:
            values[name] = _amount(name, value, found)
        elif not fields.is_integer(value):
            found.append(fields.wrong_type(name, "an integer or null", value))
        elif not 0 <= int(value) <= COUNT_MAX:
            found.append(
                errors.FieldError(name, errors.OUT_OF_RANGE, f"must be between 0 and {COUNT_MAX}")
            )
        else:
            values[name] = int(value)
    if found:
        raise errors.ValidationFailed(found)
    return values


def _amount(name: str, value: object, found: list[errors.FieldError]) -> str | None:
    if not isinstance(value, str):
        found.append(fields.wrong_type(name, "a quantity string or null", value))
        return None
    try:
        amount = quantities.parse_quantity(value)
    except quantities.InvalidQuantity as exc:
        found.append(errors.FieldError(name, errors.INVALID_QUANTITY, str(exc)))
        return None
    if amount < 0:
        found.append(errors.FieldError(name, errors.OUT_OF_RANGE, "must not be negative"))
        return None
    return quantities.format_quantity(amount, binary=name != "cpu")

"""Upgrade rules of the KubeDB version catalog, as KubeDB's UpdateVersion webhook applies them.

Why: the REST API refuses an impossible upgrade before anything reaches the cluster, and the
simulated operator refuses the same OpsRequest the real webhook would. Both must agree, so the
rules live here once: the current version's `updateConstraints` (semver allowlist/denylist,
Masterminds-style, checked against the target's `spec.version`; an empty allowlist allows
everything), no deprecated target, no change of distribution or base OS, no downgrade.

Two deliberate choices where KubeDB is vague or looser: a distribution change (Official to
Percona, say) is refused for every engine, not only Postgres, because it is a migration, not
an upgrade; MySQL uses its `standalone` lists for a standalone server and its
`groupReplication` lists for every other topology (KubeDB's code at v0.66 reads the
groupReplication lists in both cases; the real catalog keeps both lists identical).

Pure: no I/O, no clock; callers pass catalog entries (see `parse_catalog_object`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import semver

ENGINE_BY_KIND = {
    "PostgresVersion": "postgres",
    "MySQLVersion": "mysql",
    "MongoDBVersion": "mongodb",
    "RedisVersion": "redis",
}
STANDALONE = "standalone"
GROUP_REPLICATION = "groupReplication"

_LEADING_NUMBERS = re.compile(r"\s*[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_TERM = re.compile(
    r"(>=|=>|<=|=<|!=|==|=|>|<|~>|~|\^)?\s*[vV]?([0-9xX*]+(?:\.[0-9xX*]+){0,2})"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"  # pre-release and build suffixes are ignored
)
_WILDCARDS = frozenset({"x", "X", "*"})


@dataclass(frozen=True)
class CatalogVersion:
    """One `*Version` catalog object, reduced to what upgrades and offers need."""

    engine: str
    name: str
    version: str
    deprecated: bool = False
    end_of_life: bool = False
    distribution: str | None = None
    base_os: str | None = None
    allowlist: tuple[str, ...] = ()
    denylist: tuple[str, ...] = ()
    group_allowlist: tuple[str, ...] = ()
    group_denylist: tuple[str, ...] = ()
    image: str | None = None

    def constraints(self, topology: str = STANDALONE) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(allowlist, denylist) that apply to a database of `topology` on this version."""
        if self.engine == "mysql" and topology != STANDALONE:
            return self.group_allowlist, self.group_denylist
        return self.allowlist, self.denylist


def parse_catalog_object(obj: Mapping[str, Any]) -> CatalogVersion:
    """A `catalog.kubedb.com` object as a CatalogVersion; ValueError if it is not one."""
    kind = obj.get("kind")
    engine = ENGINE_BY_KIND.get(str(kind))
    if engine is None:
        raise ValueError(f"{kind!r} is not a KubeDB catalog kind")
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name")
    version = spec.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise ValueError(f"{kind} object without metadata.name or spec.version")
    constraints = spec.get("updateConstraints") or {}
    allow, deny = constraints.get("allowlist"), constraints.get("denylist")
    return CatalogVersion(
        engine=engine,
        name=name,
        version=version,
        deprecated=bool(spec.get("deprecated")),
        end_of_life=bool(spec.get("endOfLife")),
        distribution=spec.get("distribution"),
        base_os=(spec.get("db") or {}).get("baseOS"),
        allowlist=_constraint_list(allow, STANDALONE),
        denylist=_constraint_list(deny, STANDALONE),
        group_allowlist=_constraint_list(allow, GROUP_REPLICATION) if engine == "mysql" else (),
        group_denylist=_constraint_list(deny, GROUP_REPLICATION) if engine == "mysql" else (),
        image=(spec.get("db") or {}).get("image"),
    )


def check_upgrade(
    current: CatalogVersion, target: CatalogVersion, *, topology: str = STANDALONE
) -> str | None:
    """None when `current` may be updated to `target`, else the reason it may not."""
    if current.engine != target.engine:
        return f"cannot change the engine from {current.engine} to {target.engine}"
    if current.name == target.name:
        return f"already at version {current.name}"
    if target.deprecated:
        return f"version {target.name} is deprecated"
    if current.distribution != target.distribution:
        return (
            f"cannot change the distribution from {current.distribution} to {target.distribution}"
        )
    if current.base_os != target.base_os:
        return f"cannot change the base OS from {current.base_os} to {target.base_os}"
    try:
        have, want = parse_version(current.version), parse_version(target.version)
        allowlist, denylist = current.constraints(topology)
        allowed = not allowlist or any(satisfies(want, c) for c in allowlist)
        denied = [c for c in denylist if satisfies(want, c)]
    except ValueError as error:
        return f"the update constraints of {current.name} cannot be checked: {error}"
    if want == have:
        return f"already at version {current.version} ({target.name} is the same version)"
    if want < have:
        return f"downgrades are not supported ({current.version} to {target.version})"
    if not allowed:
        return (
            f"{target.name} is not an allowed update target of {current.name} "
            f"(allowed: {'; '.join(allowlist)})"
        )
    if denied:
        return f"{target.name} is a denied update target of {current.name} ({denied[0]})"
    return None


def upgrade_targets(
    current: CatalogVersion, catalog: Iterable[CatalogVersion], *, topology: str = STANDALONE
) -> list[CatalogVersion]:
    """The entries `current` may be updated to, oldest version first."""
    targets = [v for v in catalog if check_upgrade(current, v, topology=topology) is None]
    return sorted(targets, key=lambda v: (parse_version(v.version), v.name))


def parse_version(text: str) -> semver.Version:
    """The numeric part of a catalog version: "16.13" -> 16.13.0, "8.0.31-innodb" -> 8.0.31."""
    match = _LEADING_NUMBERS.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a version")
    major, minor, patch = (int(part or 0) for part in match.groups())
    return semver.Version(major, minor, patch)


def satisfies(version: semver.Version, constraint: str) -> bool:
    """Whether `version` meets a Masterminds semver constraint such as ">= 16.1, <= 17.9"."""
    return any(all(check(version) for check in group) for group in _parse_constraint(constraint))


# --- constraints ---------------------------------------------------------------------------

Check = Callable[[semver.Version], bool]


def _constraint_list(value: Any, topology: str) -> tuple[str, ...]:
    """A constraint list; MySQL keys its lists by topology (a plain list serves both)."""
    if isinstance(value, Mapping):
        value = value.get(topology)
    if not value:
        return ()
    return tuple(str(item) for item in value)


def _parse_constraint(constraint: str) -> list[list[Check]]:
    """OR-groups ("||") of AND-ed checks ("," or whitespace), Masterminds semantics."""
    groups: list[list[Check]] = []
    for alternative in constraint.split("||"):
        text = alternative.replace(",", " ").strip()
        checks: list[Check] = []
        position = 0
        while position < len(text):
            if text[position].isspace():
                position += 1
                continue
            match = _TERM.match(text, position)
            if match is None:
                raise ValueError(f"invalid constraint {constraint!r}")
            checks.append(_term_check(match.group(1) or "", match.group(2)))
            position = match.end()
        if not checks:
            raise ValueError(f"invalid constraint {constraint!r}")
        groups.append(checks)
    return groups


def _term_check(operator: str, text: str) -> Check:
    """One comparison; a partial version ("17.9", "8.0.x") means the whole range it names."""
    parts = text.split(".")
    given = [part for part in parts if part not in _WILDCARDS]
    if len(given) < len(parts) and any(p not in _WILDCARDS for p in parts[len(given) :]):
        raise ValueError(f"invalid version {text!r}")
    numbers = [int(part) for part in given]
    low = _padded(numbers)
    # [low, high) is every version the (maybe partial) version names: "17.9" is 17.9.x.
    high = _next_version(numbers) if len(numbers) < 3 else low.bump_patch()
    if operator in ("", "=", "=="):
        return lambda v: low <= v < high
    if operator == "!=":
        return lambda v: not low <= v < high
    if operator in (">=", "=>"):
        return lambda v: v >= low
    if operator == ">":
        return lambda v: v >= high
    if operator in ("<=", "=<"):
        return lambda v: v < high
    if operator == "<":
        return lambda v: v < low
    if operator in ("~", "~>"):
        upper = _next_version(numbers[:2] if len(numbers) > 1 else numbers)
        return lambda v: low <= v < upper
    # Caret: compatible with the left-most non-zero part.
    significant = next((i for i, n in enumerate(numbers) if n != 0), len(numbers) - 1)
    upper = _next_version(numbers[: significant + 1])
    return lambda v: low <= v < upper


def _next_version(numbers: list[int]) -> semver.Version:
    """The first version after every version that starts with `numbers` ([17, 9] -> 17.10.0)."""
    if not numbers:
        return semver.Version(2**31, 0, 0)  # "*": nothing lies beyond
    bumped = [*numbers[:-1], numbers[-1] + 1]
    return _padded(bumped)


def _padded(numbers: list[int]) -> semver.Version:
    major, minor, patch = [*numbers, 0, 0, 0][:3]
    return semver.Version(major, minor, patch)

"""KubeDB's own rules that the simulated webhooks and ops-manager enforce, written for the sim.

From KUBEDB-API.md and the code it cites, never from the product's domain rules (an import
contract forbids that), so a test through the sim can catch a wrong rule in dbaas:

- Quantities compare by value, as apimachinery's `resource.Quantity.Cmp` (`1Gi` == `1024Mi`).
- Update constraints (§2.3; apimachinery `IsUpgradable`): the target must be one of the
  catalog entries whose `spec.version` meets any `updateConstraints.allowlist` constraint
  (an empty allowlist allows every version) and no `denylist` one; constraints are
  Masterminds semver (`>= 16.1, <= 17.9`, `||`, `~`, `^`, wildcards). MySQL keys them by
  topology (`standalone`, `groupReplication`). There is no separate downgrade or deprecation
  check: what the constraints allow is allowed. Postgres also keeps `db.baseOS` and
  `distribution` (§2.3).
- Replica bounds and topology conversions of HorizontalScaling (§1.3, §2.3): Postgres takes
  any positive `replicas` (a standalone becomes a cluster); MySQL scales only a group
  (`horizontalScaling.member`, at most 9 members: `MySQLMaxGroupMembers`), a standalone
  changes topology by ReplicationModeTransformation instead; MongoDB scales a replica set or
  sharded cluster, not a standalone; Redis scales a Cluster (`shards` >= 3), not Standalone
  or Sentinel mode. **[inferred]** The wording of the refusals for the last three is the
  sim's: the ops-manager's source is not public.
No I/O; pure functions of the objects given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

MYSQL_MAX_GROUP_MEMBERS = 9
REDIS_MIN_SHARDS = 3

# --- quantities -----------------------------------------------------------------------------

_SUFFIXES = {
    **{s: Decimal(2) ** (10 * (i + 1)) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))"
)


def quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity; ValueError as `resource.ParseQuantity` errs."""
    match = _QUANTITY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")  # fmt: skip
    number, exponent, suffix = match.groups()
    if exponent:
        return Decimal(number) * (Decimal(10) ** int(exponent[1:]))
    return Decimal(number) * _SUFFIXES[suffix or ""]


# --- Masterminds semver constraints ---------------------------------------------------------

_VERSION = re.compile(
    r"\s*v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+][0-9A-Za-z.+-]*)?\s*"
)
_TERM = re.compile(
    r"(>=|=>|<=|=<|!=|=|>|<|~>|~|\^)?\s*(v?[0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:[-+][0-9A-Za-z.+-]*)?)"
)
Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    """`16.13` -> (16, 13, 0) (Masterminds' NewVersion coerces missing parts to 0)."""
    match = _VERSION.fullmatch(text)
    if match is None or any(p in ("x", "X", "*") for p in match.groups() if p):
        raise ValueError(f"Invalid Semantic Version: {text!r}")
    major, minor, patch = (int(p) if p else 0 for p in match.groups())
    return major, minor, patch


def _term_matches(op: str, bound: str, version: Version) -> bool:
    match = _VERSION.fullmatch(bound)
    if match is None:
        raise ValueError(f"improper constraint: {bound}")
    parts = list(match.groups())
    wild = next((i for i, p in enumerate(parts) if p is None or p in ("x", "X", "*")), 3)
    base = tuple(int(p) if i < wild and p else 0 for i, p in enumerate(parts))
    if (op in ("", "=") and wild < 3) or op in ("~", "~>") or op == "^":
        if op in ("~", "~>"):
            wild = min(wild, 2) if wild > 1 else wild
        if op == "^":  # up to the next change of the first non-zero part
            first = next((i + 1 for i, p in enumerate(base) if p), wild)
            wild = max(1, min(wild, first))
        low = base
        high = _bump(base, wild)
        return low <= version < high if high else low <= version
    ordered = {"": version == base, "=": version == base, "!=": version != base,
               ">": version > base, "<": version < base, ">=": version >= base,
               "=>": version >= base, "<=": version <= base, "=<": version <= base}  # fmt: skip
    if op in (">", "<=", "=<") and wild < 3:  # "> 16.x" means beyond the whole 16 series
        high = _bump(base, wild)
        if high is None:  # "> *" matches nothing above everything; "<= *" everything
            return op != ">"
        return version >= high if op == ">" else version < high
    return ordered[op]


def _bump(base: tuple[int, ...], wild: int) -> tuple[int, ...] | None:
    if wild == 0:
        return None
    head = list(base[:wild])
    head[-1] += 1
    return tuple(head + [0] * (3 - len(head)))


def satisfies(version: Version, constraint: str) -> bool:
    """Whether `version` meets a Masterminds constraint (`||` of `,`/space-joined terms)."""
    for group in constraint.split("||"):
        terms = _TERM.findall(group)
        if not terms:
            raise ValueError(f"improper constraint: {constraint}")
        if all(_term_matches(op, bound, version) for op, bound in terms):
            return True
    return False


def constraints(catalog: Mapping[str, Any], topology: str) -> tuple[list[str], list[str]]:
    """(allowlist, denylist) of a catalog object for a database of `topology`."""
    spec = catalog.get("spec") or {}
    update = spec.get("updateConstraints") or {}
    allow, deny = update.get("allowlist") or [], update.get("denylist") or []
    if isinstance(allow, dict) or isinstance(deny, dict):  # MySQL: keyed by topology
        allow = (allow or {}).get(topology) or [] if isinstance(allow, dict) else allow
        deny = (deny or {}).get(topology) or [] if isinstance(deny, dict) else deny
    return [str(c) for c in allow], [str(c) for c in deny]


def upgradable(
    current: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]], topology: str
) -> list[str]:
    """The catalog names `current` may be updated to (apimachinery `getUpgradableVersions`)."""
    allowlist, denylist = constraints(current, topology)
    names = []
    for candidate in candidates:
        version = parse_version(str((candidate.get("spec") or {}).get("version", "")))
        allowed = not allowlist or any(satisfies(version, c) for c in allowlist)
        denied = any(satisfies(version, c) for c in denylist)
        if allowed and not denied:
            names.append(str(candidate["metadata"]["name"]))
    return names

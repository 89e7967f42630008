"""Server-side apply with field ownership (`application/apply-patch+yaml`).

What `kubectl apply --server-side` relies on: each apply manager (`fieldManager`) owns the
fields of its last applied configuration, recorded in `metadata.managedFields` in the real
format (`operation: Apply`, `fieldsType: FieldsV1`, `fieldsV1` the `f:`-keyed trie). On the
next apply by the same manager:
- a field it applied before and no longer applies is removed from the object, unless
  another apply manager owns it too (a shared field stays);
- a field another apply manager owns with a different value is a 409 Conflict naming the
  manager and the field, unless `force=true`, which moves the field to the applier.

Simplifications, said where they matter: lists are atomic (owned whole, as lists without a
merge key are in Kubernetes), and writes other than apply (PUT, merge patches) are not
recorded as `Update` managers, so an apply never conflicts with them. Pure functions over
plain dicts: they never mutate their inputs.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable
from typing import Any

from services.sim import errors, patching

APPLY = "Apply"
FIELDS_TYPE = "FieldsV1"
Path = tuple[str, ...]

_IDENTITY: frozenset[Path] = frozenset(
    {
        ("apiVersion",),
        ("kind",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("metadata", "resourceVersion"),
        ("metadata", "managedFields"),
        ("status",),
    }
)
"""Not owned by an applier: the object's identity, and status (not written by apply)."""


def leaf_paths(config: Any, prefix: Path = ()) -> set[Path]:
    """The fields a configuration sets: the paths to its scalars, lists and empty objects."""
    if not isinstance(config, dict) or (not config and prefix):
        return {prefix} if prefix else set()
    found: set[Path] = set()
    for key, value in config.items():
        path = (*prefix, str(key))
        if any(path[: len(skip)] == skip for skip in _IDENTITY):
            continue
        found |= leaf_paths(value, path)
    return found


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    trie: dict[str, Any] = {}
    for path in sorted(paths):
        node = trie
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return trie


def from_fields_v1(trie: Any, prefix: Path = ()) -> set[Path]:
    if not isinstance(trie, dict) or not trie:
        return {prefix} if prefix else set()
    found: set[Path] = set()
    for key, value in trie.items():
        if key.startswith("f:"):
            found |= from_fields_v1(value, (*prefix, key[2:]))
        elif key == ".":  # the node itself is owned as well as (maybe) its children
            found.add(prefix)
    return found


def _value(doc: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _remove(doc: dict[str, Any], path: Path) -> None:
    """Remove the field at `path`, then any object it leaves empty above it."""
    parents = [doc]
    for part in path[:-1]:
        child = parents[-1].get(part)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth]:
            break
        parents[depth - 1].pop(path[depth - 1], None)


def apply(
    current: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    force: bool,
    api_version: str,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The object after `manager` applies `config` to `current` (None: it does not exist)."""
    result: dict[str, Any] = copy.deepcopy(current) if current else {}
    entries = list((result.get("metadata") or {}).get("managedFields") or [])
    mine: set[Path] = set()
    others: dict[str, set[Path]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("operation") != APPLY:
            continue
        owned = from_fields_v1(entry.get("fieldsV1"))
        if entry.get("manager") == manager:
            mine = owned
        else:
            others[str(entry.get("manager"))] = owned
    applied = leaf_paths(config)
    conflicts = sorted(
        (name, path)
        for name, owned in others.items()
        for path in applied & owned
        if _value(result, path) != _value(config, path)
    )
    if conflicts and not force:
        raise _conflict(conflicts)
    if force:
        for name, path in conflicts:
            others[name].discard(path)
    shared = set().union(*others.values()) if others else set()
    for path in sorted(mine - applied - shared, key=len, reverse=True):
        _remove(result, path)
    result = patching.merge_patch(result, {k: v for k, v in config.items() if k != "status"})
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kept = [
        entry
        for entry in entries
        if not (isinstance(entry, dict) and entry.get("operation") == APPLY)
    ]
    kept += [_entry(name, owned, api_version, stamp, old=entries) for name, owned in others.items()]
    kept.append(_entry(manager, applied, api_version, stamp, old=[]))
    result.setdefault("metadata", {})["managedFields"] = [entry for entry in kept if entry]
    return result


def _entry(
    manager: str, owned: set[Path], api_version: str, stamp: str, *, old: list[Any]
) -> dict[str, Any]:
    previous = next((e for e in old if isinstance(e, dict) and e.get("manager") == manager), None)
    if not owned:
        return {}
    return {
        "manager": manager,
        "operation": APPLY,
        "apiVersion": api_version,
        "time": previous.get("time", stamp) if previous else stamp,
        "fieldsType": FIELDS_TYPE,
        "fieldsV1": to_fields_v1(owned),
    }


def _conflict(conflicts: list[tuple[str, Path]]) -> errors.ApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{name}"',
            "field": "." + ".".join(path),
        }
        for name, path in conflicts
    ]
    count = len(conflicts)
    listing = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    return errors.ApiError(
        409,
        "Conflict",
        f"Apply failed with {count} conflict{'s' if count > 1 else ''}: {listing}",
        details={"causes": causes},
    )

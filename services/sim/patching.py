"""The PATCH content types the official client and kubectl send.

- `application/merge-patch+json` (RFC 7386): what `CustomObjectsApi.patch_*` sends.
- `application/json-patch+json` (RFC 6902): a list body.
- `application/strategic-merge-patch+json`: what `CoreV1Api.patch_*` and kubectl send for
  the core kinds. A real server rejects it for custom resources with 415. For the core kinds
  served here the lists that carry a patch merge key in Kubernetes' Go types are merged by
  that key (`spec.ports` by `port`, `metadata.ownerReferences` by `uid`, ...),
  `metadata.finalizers` merges as a set, and the `$patch: delete|replace` and
  `$deleteFromPrimitiveList/<field>` directives apply; other lists are replaced.
- `application/apply-patch+yaml` (server-side apply): on an object, `applying` works out
  the result with field ownership; on a subresource, the applied configuration is merged.

Pure functions over plain dicts: they never mutate their inputs.
"""

from __future__ import annotations

import copy
from typing import Any

from services.sim import errors

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

_MISSING = object()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists with a patch merge key in k8s.io/api's types (paths within the served core kinds).
MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "managedFields"): "manager",
    ("spec", "ports"): "port",
    ("status", "conditions"): "type",
    ("status", "loadBalancer", "ingress"): "ip",
}
SET_LISTS = frozenset({("metadata", "finalizers")})
_DELETE_FROM = "$deleteFromPrimitiveList/"


def strategic_merge(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """A strategic merge patch over the lists this server knows merge keys for."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if patch.get("$patch") == "delete":
        return _MISSING
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM) :]
            removed = value if isinstance(value, list) else []
            result[field] = [item for item in result.get(field) or [] if item not in removed]
            continue
        if key.startswith("$"):
            continue
        child = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and child in MERGE_KEYS:
            result[key] = _merge_list(result.get(key), value, MERGE_KEYS[child], child)
        elif isinstance(value, list) and child in SET_LISTS:
            current = list(result.get(key) or [])
            result[key] = current + [item for item in value if item not in current]
        else:
            merged = strategic_merge(result.get(key), value, child)
            if merged is _MISSING:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_list(current: Any, patch: list[Any], key: str, path: tuple[str, ...]) -> list[Any]:
    items = [copy.deepcopy(item) for item in current] if isinstance(current, list) else []
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise errors.bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        index = next(
            (
                i
                for i, old in enumerate(items)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                items.pop(index)
            continue
        if index is None:
            items.append(strategic_merge({}, item, path))
        else:
            items[index] = strategic_merge(items[index], item, path)
    return items


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f'invalid JSON pointer "{path}"')
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _patch_error(message: str) -> errors.ApiError:
    return errors.ApiError(422, "Invalid", message)


def _container(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _patch_error(f"doc is missing path: {path}: missing value")
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    return _container(doc, parts, path)


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _patch_error(f"add operation does not apply: doc is missing path: {path}")
    else:
        raise _patch_error(f"add operation does not apply: doc is missing path: {path}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise _patch_error("unable to remove the whole document")
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise _patch_error(f"remove operation does not apply: doc is missing path: {path}")


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise errors.bad_request(f"invalid JSON patch operation: {operation!r}")
        op, path = operation["op"], operation.get("path", "")
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc, _ = _remove(doc, path)
        elif op == "replace":
            _get(doc, path)
            if _pointer(path):
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "move":
            doc, value = _remove(doc, operation.get("from", ""))
            doc = _add(doc, path, value)
        elif op == "copy":
            value = copy.deepcopy(_get(doc, operation.get("from", "")))
            doc = _add(doc, path, value)
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise _patch_error(f"testing value {path} failed: test failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {op}")
    return doc


def apply_patch(target: dict[str, Any], patch: Any, content_type: str, *, custom: bool) -> Any:
    """Apply a PATCH body of `content_type`; `custom` is True for custom resources."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MERGE:
        if not isinstance(patch, dict):
            raise errors.bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        return merge_patch(target, patch)
    if media == JSON_PATCH:
        return json_patch(target, patch)
    if media == STRATEGIC and not custom:
        if not isinstance(patch, dict):
            raise errors.bad_request("strategic merge patch body must be an object")
        return strategic_merge(target, patch)
    if media == APPLY:
        if not isinstance(patch, dict):
            raise errors.bad_request("the applied configuration must be an object")
        return merge_patch(target, patch)
    accepted = [JSON_PATCH, MERGE, APPLY] + ([] if custom else [STRATEGIC])
    raise errors.unsupported_media_type(media, accepted)

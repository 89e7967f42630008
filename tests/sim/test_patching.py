"""The patch algorithms on their own: RFC 7386 merge patch and RFC 6902 JSON patch."""

from __future__ import annotations

from typing import Any

import pytest

from services.sim import errors, patching


def test_merge_patch_merges_objects_replaces_lists_and_deletes_nulls() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    patch = {"a": {"c": [3], "e": None}, "d": None, "f": {"g": 1}}
    assert patching.merge_patch(target, patch) == {"a": {"b": 1, "c": [3]}, "f": {"g": 1}}
    assert target == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": "/l/1", "value": 9}], {"m": {"k": 1}, "l": [1, 9, 2]}),
        ([{"op": "add", "path": "/l/-", "value": 9}], {"m": {"k": 1}, "l": [1, 2, 9]}),
        ([{"op": "remove", "path": "/m/k"}], {"m": {}, "l": [1, 2]}),
        ([{"op": "replace", "path": "/l/0", "value": 7}], {"m": {"k": 1}, "l": [7, 2]}),
        ([{"op": "move", "from": "/m/k", "path": "/n"}], {"m": {}, "l": [1, 2], "n": 1}),
        ([{"op": "copy", "from": "/l", "path": "/m/l"}], {"m": {"k": 1, "l": [1, 2]}, "l": [1, 2]}),
        ([{"op": "add", "path": "/m/a~1b", "value": 1}], {"m": {"k": 1, "a/b": 1}, "l": [1, 2]}),
    ],
)
def test_json_patch_operations(operations: list[dict[str, Any]], expected: Any) -> None:
    assert patching.json_patch({"m": {"k": 1}, "l": [1, 2]}, operations) == expected


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "test", "path": "/m/k", "value": 2}],
    ],
)
def test_json_patch_failures_are_422(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(errors.ApiError) as caught:
        patching.json_patch({"m": {"k": 1}}, operations)
    assert caught.value.code == 422


def test_strategic_merge_drops_directives_for_core_kinds_only() -> None:
    patch = {"metadata": {"labels": {"a": "1"}, "$setElementOrder/finalizers": []}}
    result = patching.apply_patch({"metadata": {}}, patch, patching.STRATEGIC, custom=False)
    assert result == {"metadata": {"labels": {"a": "1"}}}
    with pytest.raises(errors.ApiError) as caught:
        patching.apply_patch({}, patch, patching.STRATEGIC, custom=True)
    assert caught.value.code == 415

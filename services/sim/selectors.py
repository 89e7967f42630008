"""Label and field selectors, parsed the way kube-apiserver parses them.

Selectors arrive as query strings (`labelSelector=app=pg,tier in (a,b),!legacy`) and are
compiled once into predicates over an object dict. Syntax errors become 400 BadRequest.
Never evaluate anything but metadata labels and the whitelisted fields here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from services.sim import errors

Predicate = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"^(?P<neg>!?)\s*(?P<key>{_KEY})$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_FIELD = re.compile(r"^(?P<key>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*)$")

COMMON_FIELDS = ("metadata.name", "metadata.namespace")


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _labels(obj: dict[str, Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] | None = obj.get("metadata", {}).get("labels")
    return labels or {}


def _requirement(text: str) -> Predicate:
    if match := _SET.match(text):
        key = match["key"]
        values = {value.strip() for value in match["values"].split(",") if value.strip()}
        if match["op"] == "in":
            return lambda obj: _labels(obj).get(key) in values
        return lambda obj: _labels(obj).get(key) not in values
    if match := _EQUALITY.match(text):
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda obj: _labels(obj).get(key) != value
        return lambda obj: _labels(obj).get(key) == value
    if match := _EXISTS.match(text):
        key = match["key"]
        if match["neg"]:
            return lambda obj: key not in _labels(obj)
        return lambda obj: key in _labels(obj)
    raise errors.bad_request(f"unable to parse requirement: found '{text}', expected a selector")


def _all(predicates: list[Predicate]) -> Predicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    return lambda obj: all(predicate(obj) for predicate in predicates)


def parse_label_selector(text: str | None) -> Predicate | None:
    """A predicate over objects, or None when the selector selects everything."""
    if not text:
        return None
    return _all([_requirement(part) for part in _split_top_level(text)])


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    return "" if node is None else str(node)


def parse_field_selector(text: str | None, *, allowed: Iterable[str]) -> Predicate | None:
    """Compile `metadata.name=x,metadata.namespace!=y`; unknown fields are a 400."""
    if not text:
        return None
    allowed_fields = set(allowed)
    predicates: list[Predicate] = []
    for part in _split_top_level(text):
        match = _FIELD.match(part)
        if not match:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, value = match["key"], match["value"]
        if path not in allowed_fields:
            raise errors.bad_request(
                f'"{path}" is not a known field selector: only "'
                + '", "'.join(sorted(allowed_fields))
                + '"'
            )
        predicates.append(_field_requirement(path, value, negate=match["op"] == "!="))
    return _all(predicates)


def _field_requirement(path: str, value: str, *, negate: bool) -> Predicate:
    if negate:
        return lambda obj: _field_value(obj, path) != value
    return lambda obj: _field_value(obj, path) == value


def both(first: Predicate | None, second: Predicate | None) -> Predicate | None:
    if first is None:
        return second
    if second is None:
        return first
    return lambda obj: first(obj) and second(obj)


def field_equals(text: str | None, path: str) -> str | None:
    """The value a selector pins `path` to with `=`/`==`, used to narrow a scan to one key."""
    if not text:
        return None
    for part in _split_top_level(text):
        match = _FIELD.match(part)
        if match and match["key"] == path and match["op"] != "!=":
            return match["value"]
    return None

"""Server-side printing: `meta.k8s.io/v1` Table answers for kubectl.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
cells it gets, so `kubectl get postgreses -A` shows NAME, VERSION, STATUS, AGE as it would
against a real cluster (the CRDs' additionalPrinterColumns). Pure rendering; no store access.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from services.sim import objects
from services.sim.resources import ResourceType

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    return TABLE_MEDIA in accept.replace(" ", "")


def human_duration(delta: datetime.timedelta) -> str:
    """apimachinery's `duration.HumanDuration`: 45s, 5m10s, 3h, 2d4h, 3y."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        seconds = 0
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _path(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _cell(obj: dict[str, Any], path: str, now: datetime.datetime) -> Any:
    if path == "@age":
        created = obj.get("metadata", {}).get("creationTimestamp")
        if not created:
            return "<unknown>"
        return human_duration(now - objects.parse_timestamp(created))
    if path == "@data":
        return len(obj.get("data") or {})
    if path == "@ports":
        ports = obj.get("spec", {}).get("ports") or []
        return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"
    value = _path(obj, path)
    return "" if value is None else value


def render(
    rt: ResourceType,
    items: Iterable[dict[str, Any]],
    *,
    now: datetime.datetime,
    resource_version: str = "",
    continue_token: str | None = None,
) -> dict[str, Any]:
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ] + [
        {"name": name, "type": kind, "format": "", "description": name, "priority": 0}
        for name, kind, _ in rt.columns
    ]
    rows = []
    for obj in items:
        cells = [obj["metadata"]["name"]] + [_cell(obj, path, now) for _, _, path in rt.columns]
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }

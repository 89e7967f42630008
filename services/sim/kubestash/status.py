"""Small builders shared by the KubeStash halves: conditions, owner references, ULIDs."""

from __future__ import annotations

import datetime
import os
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def condition(kind: str, ok: bool, reason: str, message: str, *, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def merge_conditions(
    old: list[dict[str, Any]] | None, new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`old` with each of `new` replacing its type; an unchanged status keeps its
    lastTransitionTime, so re-asserting the same facts writes nothing new."""
    result = [dict(c) for c in old or [] if c.get("type") not in {n["type"] for n in new}]
    previous = {c.get("type"): c for c in old or []}
    for cond in new:
        before = previous.get(cond["type"])
        if before is not None and before.get("status") == cond["status"]:
            cond = {**cond, "lastTransitionTime": before.get("lastTransitionTime")}
        result.append(cond)
    return sorted(result, key=lambda c: str(c.get("type")))


def owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def ulid(now: datetime.datetime) -> str:
    """A ULID (time-sortable, 26 Crockford base32 characters), as Snapshot.spec.snapshotID."""
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))

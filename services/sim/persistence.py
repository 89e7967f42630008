"""`dbaas sim --state FILE`: the cluster's objects outlive the sim process, as etcd does.

The file is one JSON document: the store's resourceVersion and every object but the
version catalog (which is code's, preloaded at each start) by resource key. It is written
atomically (a scratch file renamed over it) at most once per `interval` while objects change,
and once more at a clean stop, so a kill -9 loses at most the last interval's writes.
Loading puts the objects back with their own resourceVersions and no events; the history
starts compacted at the saved resourceVersion, so a client's old watch gets 410 and relists,
as after an etcd restore. What only lived in memory (faults, counters, forced phases,
open watches) starts empty.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from services.sim import store

FORMAT = 1


def snapshot(object_store: store.Store, *, skip_groups: tuple[str, ...]) -> bytes:
    """The store as the state file's bytes (objects spliced from their stored JSON)."""
    parts = []
    for resource, collection in sorted(object_store.collections.items()):
        if resource.endswith(skip_groups) or not collection.entries:
            continue
        items = b",".join(collection.entries[key].raw for key in collection.keys)
        parts.append(store.encode(resource) + b":[" + items + b"]")
    head = b'{"format":%d,"resourceVersion":%d,"objects":{' % (FORMAT, object_store.rv)
    return head + b",".join(parts) + b"}}\n"


def save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with scratch.open("wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(scratch, path)


class StateError(ValueError):
    """The state file exists but cannot be read as a sim state."""


def load(path: Path) -> tuple[int, dict[str, list[dict[str, Any]]]] | None:
    """(resourceVersion, objects by resource key), or None when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError(f"{path} is not a dbaas sim state (format {FORMAT})")
    objects = document.get("objects")
    rv = document.get("resourceVersion")
    if not isinstance(objects, dict) or not isinstance(rv, int):
        raise StateError(f"{path} has no objects or resourceVersion")
    return rv, objects

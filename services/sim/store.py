"""The in-memory object store: one global resourceVersion, indexed collections, events.

The store is the simulator's etcd. It owns the resourceVersion counter, keeps each
resource's objects in a dict plus a sorted key list (bisect) so paginated lists are cheap at
10,000 objects, records every write as an event in a bounded history window (watch replay,
410 Gone once a version has left it), and fans events out to watchers. Each stored version
is encoded to JSON once; lists and watch streams splice those bytes instead of re-encoding.

Stored dicts are immutable by convention: writers hand over a fresh dict and never touch it
again; readers that want to mutate take a deep copy. This module knows nothing of HTTP,
validation or KubeDB; it never decides whether a write is allowed (that is `apiserver.py`).
All methods run on the event loop thread, so no locks are needed.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from services.sim import errors

Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""

Listener = Callable[["Event"], None]


def encode(obj: Any) -> bytes:
    """Compact JSON (UTF-8). orjson: every stored version is encoded once, and the standard
    library's encoder was ~10 % of the simulator's CPU. What orjson refuses (an integer
    beyond 64 bits, which JSON allows) goes through the standard library."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def decode(raw: bytes) -> Any:
    """A request body as the API server's Go decoder reads it: NaN and Infinity, which
    Python's json accepts, are not JSON (ValueError, as for any malformed body)."""
    return json.loads(raw, parse_constant=_not_json)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def clone(value: Any) -> Any:
    """A private deep copy of JSON data (a C-speed round trip, faster than copy.deepcopy)."""
    return json.loads(encode(value))


@dataclasses.dataclass(slots=True, frozen=True)
class Entry:
    obj: dict[str, Any]
    raw: bytes
    rv: int

    def copy(self) -> dict[str, Any]:
        """A private, mutable copy of the stored object."""
        copied: dict[str, Any] = json.loads(self.raw)
        return copied


@dataclasses.dataclass(slots=True)
class Event:
    type: str
    rv: int
    resource: str
    key: Key
    entry: Entry
    old: dict[str, Any] | None
    _lines: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def line(self, event_type: str | None = None) -> bytes:
        """The watch line for this event, encoded once per type."""
        event_type = event_type or self.type
        line = self._lines.get(event_type)
        if line is None:
            line = b'{"type":"' + event_type.encode() + b'","object":' + self.entry.raw + b"}\n"
            self._lines[event_type] = line
        return line


class Collection:
    """One resource's objects, by key, with the keys kept sorted for pagination."""

    __slots__ = ("entries", "keys")

    def __init__(self) -> None:
        self.entries: dict[Key, Entry] = {}
        self.keys: list[Key] = []

    def put(self, key: Key, entry: Entry) -> None:
        if key not in self.entries:
            bisect.insort(self.keys, key)
        self.entries[key] = entry

    def pop(self, key: Key) -> Entry:
        entry = self.entries.pop(key)
        index = bisect.bisect_left(self.keys, key)
        del self.keys[index]
        return entry

    def scan(self, namespace: str | None, after: Key | None) -> Iterator[Key]:
        """Keys in order, optionally within one namespace, strictly after `after`."""
        keys = self.keys
        if after is not None:
            start = bisect.bisect_right(keys, after)
        elif namespace is not None:
            start = bisect.bisect_left(keys, (namespace, ""))
        else:
            start = 0
        for index in range(start, len(keys)):
            key = keys[index]
            if namespace is not None and key[0] != namespace:
                if key[0] > namespace:
                    return
                continue
            yield key


class Store:
    def __init__(self, *, history: int = 20000) -> None:
        self.rv = 0
        self.compacted = 0
        """Events with rv <= compacted are no longer in the history window."""
        self.history: collections.deque[Event] = collections.deque()
        self.history_limit = history
        self.collections: collections.defaultdict[str, Collection] = collections.defaultdict(
            Collection
        )
        self.listeners: list[Listener] = []

    # -- reads -----------------------------------------------------------------------------

    def get(self, resource: str, key: Key) -> Entry | None:
        collection = self.collections.get(resource)
        return collection.entries.get(key) if collection else None

    def collection(self, resource: str) -> Collection:
        return self.collections[resource]

    def count(self, resource: str) -> int:
        collection = self.collections.get(resource)
        return len(collection.entries) if collection else 0

    # -- writes ----------------------------------------------------------------------------

    def _stamp(self, obj: dict[str, Any]) -> Entry:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        return Entry(obj, encode(obj), self.rv)

    def put(self, resource: str, obj: dict[str, Any]) -> Entry:
        """Store a new version of `obj` (created or modified) and emit its event."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        collection = self.collections[resource]
        previous = collection.entries.get(key)
        entry = self._stamp(obj)
        collection.put(key, entry)
        event_type = "ADDED" if previous is None else "MODIFIED"
        self._emit(
            Event(event_type, entry.rv, resource, key, entry, previous.obj if previous else None)
        )
        return entry

    def remove(self, resource: str, obj: dict[str, Any]) -> Entry:
        """Delete the object; its final version carries the deletion's resourceVersion."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        previous = self.collections[resource].pop(key)
        entry = self._stamp(obj)
        self._emit(Event("DELETED", entry.rv, resource, key, entry, previous.obj))
        return entry

    def _emit(self, event: Event) -> None:
        self.history.append(event)
        while len(self.history) > self.history_limit:
            self.compacted = self.history.popleft().rv
        for listener in list(self.listeners):
            listener(event)

    # -- history ---------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget all history: every resourceVersion handed out so far is too old.

        The compaction takes a revision of its own (as etcd revisions also advance for
        writes a client never sees), so even the newest version a client holds expires.
        """
        self.history.clear()
        self.rv += 1
        self.compacted = self.rv

    def check_fresh(self, rv: int) -> None:
        if rv < self.compacted:
            raise errors.expired(f"too old resource version: {rv} ({self.compacted})")

    def events_after(self, rv: int, resource: str) -> list[Event]:
        """Events of `resource` newer than `rv`, oldest first (410 if outside the window)."""
        self.check_fresh(rv)
        found: list[Event] = []
        for event in reversed(self.history):
            if event.rv <= rv:
                break
            if event.resource == resource:
                found.append(event)
        found.reverse()
        return found

    def restore(self, rv: int, objects: dict[str, list[dict[str, Any]]]) -> int:
        """Put saved objects back, silently (no events), at their own resourceVersions;
        the history starts compacted at `rv`. Returns how many objects were restored."""
        restored = 0
        for resource, items in objects.items():
            collection = self.collections[resource]
            for obj in items:
                metadata = obj["metadata"]
                key = (metadata.get("namespace", ""), metadata["name"])
                collection.put(key, Entry(obj, encode(obj), int(metadata["resourceVersion"])))
                restored += 1
        self.history.clear()
        self.rv = max(self.rv, rv)
        self.compacted = self.rv
        return restored

    def clear(self, keep: Callable[[str, Entry], bool]) -> None:
        """Drop every object `keep` rejects, without events, and compact the history."""
        for resource, collection in self.collections.items():
            for key in [k for k, e in collection.entries.items() if not keep(resource, e)]:
                collection.pop(key)
        self.compact()

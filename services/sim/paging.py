"""List pages: limit/continue over a collection's sorted keys, as etcd-backed lists do.

The continue token is what the real server's is, base64 JSON of the list's resourceVersion
and the last key returned; a token older than the history window answers 410 Expired.
Later pages are a consistent snapshot at the first page's resourceVersion, as etcd serves
them: objects changed since are shown as they were (rebuilt from the event history),
objects created since are left out, objects deleted since still appear. `remainingItemCount`
is given only without selectors (and counts the current keys).
Reads only; never writes the store.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import heapq
import json
from collections.abc import Iterator

from services.sim import errors, store
from services.sim.selectors import Predicate


@dataclasses.dataclass(frozen=True)
class Page:
    entries: list[store.Entry]
    resource_version: int
    continue_token: str | None
    remaining: int | None


def encode_continue(rv: int, key: store.Key) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def decode_continue(token: str) -> tuple[int, store.Key]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = decoded["start"]
        return int(decoded["rv"]), (str(ns), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc


def page(
    object_store: store.Store,
    resource: str,
    namespace: str | None,
    *,
    predicate: Predicate | None,
    pinned_name: str | None,
    limit: int,
    continue_token: str | None,
) -> Page:
    """The next page of `resource` (one namespace, or all when None) in key order."""
    collection = object_store.collection(resource)
    rv = object_store.rv
    after: store.Key | None = None
    if continue_token:
        rv, after = decode_continue(continue_token)
        if rv < object_store.compacted:
            raise errors.expired(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
            )
    if pinned_name is not None and namespace is not None:
        entry = collection.entries.get((namespace, pinned_name))
        matches = [entry] if entry and (predicate is None or predicate(entry.obj)) else []
        return Page(matches, rv, None, None)
    entries: list[store.Entry] = []
    last: store.Key | None = None
    more = False
    then = _as_of(object_store, resource, rv) if continue_token else {}
    for key in _scan(collection, namespace, after, then):
        entry = then[key] if key in then else collection.entries[key]
        if entry is None:
            continue  # created after the snapshot
        if limit and len(entries) >= limit:
            more = True
            break
        last = key
        if predicate is None or predicate(entry.obj):
            entries.append(entry)
    if not more or last is None:
        return Page(entries, rv, None, None)
    remaining = None
    if predicate is None:
        end = (
            bisect.bisect_left(collection.keys, (namespace + "\x00", ""))
            if namespace is not None
            else len(collection.keys)
        )
        remaining = end - bisect.bisect_right(collection.keys, last)
    return Page(entries, rv, encode_continue(rv, last), remaining)


def _as_of(
    object_store: store.Store, resource: str, rv: int
) -> dict[store.Key, store.Entry | None]:
    """The objects of `resource` changed after `rv`, as they were at `rv` (None: absent)."""
    then: dict[store.Key, store.Entry | None] = {}
    for event in object_store.events_after(rv, resource):
        if event.key in then:
            continue  # the earliest change after rv tells what the object was at rv
        old = event.old
        if old is None:
            then[event.key] = None
        else:
            then[event.key] = store.Entry(
                old, store.encode(old), int(old["metadata"]["resourceVersion"])
            )
    return then


def _scan(
    collection: store.Collection,
    namespace: str | None,
    after: store.Key | None,
    then: dict[store.Key, store.Entry | None],
) -> Iterator[store.Key]:
    """The current keys in order, merged with the keys only the snapshot still has."""
    extra = sorted(
        key
        for key in then
        if key not in collection.entries
        and (namespace is None or key[0] == namespace)
        and (after is None or key > after)
    )
    if not extra:
        yield from collection.scan(namespace, after)
        return
    yield from heapq.merge(collection.scan(namespace, after), extra)

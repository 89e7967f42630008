"""List pages: limit/continue over a collection's sorted keys, as etcd-backed lists do.

The continue token is what the real server's is, base64 JSON of the list's resourceVersion
and the last key returned; a token older than the history window answers 410 Expired.
Later pages report the first page's resourceVersion but show objects as they are now
(etcd would serve a snapshot). `remainingItemCount` is given only without selectors.
Reads only; never writes the store.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import json

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
    for key in collection.scan(namespace, after):
        if limit and len(entries) >= limit:
            more = True
            break
        entry = collection.entries[key]
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

"""status-sync's in-memory view of the objects dbaas manages in the cluster.

Why: decisions are level-triggered (is this waiting operation's OpsRequest Successful now?
is this database's CR gone?), so status-sync keeps the latest copy of every database CR and
OpsRequest it watches, indexed by the database and operation ids on their labels. Watch
events and full lists (`watching`) are applied here by the reconcile loop's own thread
only; no locks. A full list replaces a resource's objects, and whatever it no longer holds
counts as deleted. This module never talks to the cluster or the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from services.reconcilers import observing
from services.reconcilers.watching import Changed, Item, Listed

Key = tuple[str, str]


class Mirror:
    def __init__(self, database_plurals: Iterable[str], ops_plurals: Iterable[str]) -> None:
        self.database_plurals = frozenset(database_plurals)
        self.ops_plurals = frozenset(ops_plurals)
        self.objects: dict[str, dict[Key, dict[str, Any]]] = {
            plural: {} for plural in self.database_plurals | self.ops_plurals
        }
        self.listed: set[str] = set()
        self._databases: dict[uuid.UUID, tuple[str, Key]] = {}
        self._ops_requests: dict[uuid.UUID, tuple[str, Key]] = {}

    @property
    def synced(self) -> bool:
        """Every resource has been listed once, so an absent object is really absent."""
        return self.listed >= self.objects.keys()

    def apply(self, item: Item) -> set[uuid.UUID]:
        """Take in a list or an event; return the database ids whose CR it touched."""
        if isinstance(item, Listed):
            return self._replace(item)
        assert isinstance(item, Changed)
        key = observing.key(item.obj)
        if item.type == "DELETED":
            return self._remove(item.plural, key)
        return self._put(item.plural, key, item.obj)

    def database(self, database_id: uuid.UUID) -> dict[str, Any] | None:
        found = self._databases.get(database_id)
        return None if found is None else self.objects[found[0]].get(found[1])

    def ops_request(self, operation_id: uuid.UUID) -> dict[str, Any] | None:
        found = self._ops_requests.get(operation_id)
        return None if found is None else self.objects[found[0]].get(found[1])

    def ops_requests(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(plural, object) for every OpsRequest."""
        for plural in self.ops_plurals:
            for obj in self.objects[plural].values():
                yield plural, obj

    def database_ids(self) -> set[uuid.UUID]:
        return set(self._databases)

    def _put(self, plural: str, key: Key, obj: dict[str, Any]) -> set[uuid.UUID]:
        previous = self.objects[plural].get(key)
        self.objects[plural][key] = obj
        touched: set[uuid.UUID] = set()
        if plural in self.database_plurals:
            old_id = observing.database_id(previous) if previous is not None else None
            new_id = observing.database_id(obj)
            if old_id is not None and old_id != new_id:
                self._unindex(self._databases, old_id, plural, key)
                touched.add(old_id)
            if new_id is not None:
                self._databases[new_id] = (plural, key)
                touched.add(new_id)
        else:
            op_id = observing.operation_id(obj)
            if op_id is not None:
                self._ops_requests[op_id] = (plural, key)
        return touched

    def _remove(self, plural: str, key: Key) -> set[uuid.UUID]:
        previous = self.objects[plural].pop(key, None)
        if previous is None:
            return set()
        if plural in self.database_plurals:
            db_id = observing.database_id(previous)
            if db_id is None:
                return set()
            self._unindex(self._databases, db_id, plural, key)
            return {db_id}
        op_id = observing.operation_id(previous)
        if op_id is not None:
            self._unindex(self._ops_requests, op_id, plural, key)
        return set()

    def _replace(self, listed: Listed) -> set[uuid.UUID]:
        plural = listed.plural
        fresh = {observing.key(obj): obj for obj in listed.items}
        touched: set[uuid.UUID] = set()
        for key in set(self.objects[plural]) - set(fresh):
            touched |= self._remove(plural, key)
        for key, obj in fresh.items():
            if _version(self.objects[plural].get(key)) != _version(obj):
                touched |= self._put(plural, key, obj)
        self.listed.add(plural)
        return touched

    @staticmethod
    def _unindex(
        index: dict[uuid.UUID, tuple[str, Key]], ident: uuid.UUID, plural: str, key: Key
    ) -> None:
        if index.get(ident) == (plural, key):
            del index[ident]


def _version(obj: dict[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return str((obj.get("metadata") or {}).get("resourceVersion"))

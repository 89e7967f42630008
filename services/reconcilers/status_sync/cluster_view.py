"""status-sync's in-memory view of the objects dbaas manages in the cluster.

Why: decisions are level-triggered (is this waiting operation's OpsRequest Successful now?
is this database's CR gone?), so status-sync keeps the latest reading of every database CR
and OpsRequest it watches, indexed by the database and operation ids on their labels. It
keeps readings, never the objects: a database CR becomes an `cr_readings.ObservedDatabase`
and an OpsRequest the compact copy `cr_readings.compact_ops_request` makes, which holds at
10,000 databases about a tenth of the memory the CRs would. The watchers hand it readings
already made (`cr_readings.compact`, page by page as they list); whole objects are read here.
Watch events and full lists (`listwatch`) are applied here by the reconcile loop's own
thread only; no locks. A full list replaces a resource's objects, and whatever it no
longer holds counts as deleted.
This module never talks to the cluster or the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import (
    BackupObjectReading,
    Changed,
    Item,
    Listed,
    ObservedDatabase,
)

Key = tuple[str, str]
Object = Mapping[str, Any] | ObservedDatabase
"""A listed or watched object, whole or as its reading."""


class ClusterView:
    def __init__(self, database_plurals: Iterable[str], ops_plurals: Iterable[str]) -> None:
        self.database_plurals = frozenset(database_plurals)
        self.ops_plurals = frozenset(ops_plurals)
        self._crs: dict[str, dict[Key, ObservedDatabase]] = {
            plural: {} for plural in self.database_plurals
        }
        self._ops: dict[str, dict[Key, dict[str, Any]]] = {
            plural: {} for plural in self.ops_plurals
        }
        self.listed: set[str] = set()
        self._databases: dict[uuid.UUID, ObservedDatabase] = {}
        self._ops_requests: dict[uuid.UUID, dict[str, Any]] = {}
        self.changed_operations: set[uuid.UUID] = set()
        """Operation ids whose OpsRequest changed or went since the reader last cleared this
        (database CRs are reported by `apply`'s return instead)."""

    @property
    def synced(self) -> bool:
        """Every resource has been listed once, so an absent object is really absent."""
        return self.listed >= self.database_plurals | self.ops_plurals

    def apply(self, item: Item) -> set[uuid.UUID]:
        """Take in a list or an event; return the database ids whose CR it touched."""
        if isinstance(item, Listed):
            return self._replace(item)
        assert isinstance(item, Changed)
        if isinstance(item.obj, BackupObjectReading):  # the backup view's, not the mirror's
            return set()
        key = cr_readings.key(item.obj)
        if item.type == "DELETED":
            return self._remove(item.plural, key)
        return self._put(item.plural, key, item.obj)

    def database(self, database_id: uuid.UUID) -> ObservedDatabase | None:
        return self._databases.get(database_id)

    def ops_request(self, operation_id: uuid.UUID) -> dict[str, Any] | None:
        return self._ops_requests.get(operation_id)

    def ops_requests(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(plural, compact OpsRequest) for every OpsRequest."""
        for plural, objects in self._ops.items():
            for obj in objects.values():
                yield plural, obj

    def database_ids(self) -> set[uuid.UUID]:
        return set(self._databases)

    def _put(self, plural: str, key: Key, obj: Object) -> set[uuid.UUID]:
        if plural in self.database_plurals:
            return self._put_database(plural, key, obj)
        if isinstance(obj, ObservedDatabase):  # a database CR's reading under an ops plural
            return set()
        previous_ops = self._ops[plural].get(key)
        compact = cr_readings.compact_ops_request(obj)
        self._ops[plural][key] = compact
        old_op = cr_readings.operation_id(previous_ops) if previous_ops is not None else None
        if old_op is not None:
            self._unindex(self._ops_requests, old_op, previous_ops)
            self.changed_operations.add(old_op)
        op_id = cr_readings.operation_id(compact)
        if op_id is not None:
            self._ops_requests[op_id] = compact
            self.changed_operations.add(op_id)
        return set()

    def _put_database(self, plural: str, key: Key, obj: Object) -> set[uuid.UUID]:
        seen = cr_readings.observe_database(obj)
        if seen is None:  # of no kind we manage: nothing to decide on
            return self._remove(plural, key)
        previous = self._crs[plural].get(key)
        self._crs[plural][key] = seen
        touched: set[uuid.UUID] = set()
        old_id = previous.database_id if previous is not None else None
        if old_id is not None:
            self._unindex(self._databases, old_id, previous)
            if old_id != seen.database_id:
                touched.add(old_id)
        if seen.database_id is not None:
            self._databases[seen.database_id] = seen
            touched.add(seen.database_id)
        return touched

    def _remove(self, plural: str, key: Key) -> set[uuid.UUID]:
        if plural in self.database_plurals:
            previous = self._crs[plural].pop(key, None)
            if previous is None or previous.database_id is None:
                return set()
            self._unindex(self._databases, previous.database_id, previous)
            return {previous.database_id}
        previous_ops = self._ops[plural].pop(key, None)
        op_id = cr_readings.operation_id(previous_ops) if previous_ops is not None else None
        if op_id is not None:
            self._unindex(self._ops_requests, op_id, previous_ops)
            self.changed_operations.add(op_id)
        return set()

    def _replace(self, listed: Listed) -> set[uuid.UUID]:
        plural = listed.plural
        held: Mapping[Key, ObservedDatabase | dict[str, Any]] = (
            self._crs[plural] if plural in self.database_plurals else self._ops[plural]
        )
        fresh = {
            cr_readings.key(obj): obj
            for obj in listed.items
            if not isinstance(obj, BackupObjectReading)
        }
        touched: set[uuid.UUID] = set()
        for key in set(held) - set(fresh):
            touched |= self._remove(plural, key)
        version = cr_readings.resource_version
        for key, obj in fresh.items():
            kept = held.get(key)
            if kept is None or version(kept) != version(obj):
                touched |= self._put(plural, key, obj)
        self.listed.add(plural)
        return touched

    @staticmethod
    def _unindex(index: dict[uuid.UUID, Any], ident: uuid.UUID, reading: object) -> None:
        """Drop `ident` from `index` only while it still points at this reading (a newer
        object may carry the same label under another key)."""
        if index.get(ident) is reading:
            del index[ident]

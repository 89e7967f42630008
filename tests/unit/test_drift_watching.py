"""What drift takes from its watch feed, and how a check of a few CRs judges them."""

from __future__ import annotations

import queue
from typing import Any

from services.domain.snapshots import DatabaseSnapshot
from services.reconcilers import cr_readings
from services.reconcilers.cr_readings import Changed, Item, Listed
from services.reconcilers.drift import compare, watching
from tests.reconcilers_support import cr_for, record, snapshot


def reading(snap: DatabaseSnapshot, **spec_changes: Any) -> cr_readings.ObservedDatabase:
    found = cr_readings.compact(cr_for(snap, **spec_changes))
    assert isinstance(found, cr_readings.ObservedDatabase)
    return found


def test_the_latest_state_of_each_changed_cr_is_taken_by_database_id() -> None:
    orders, billing, gone = (snapshot(record(name=n)) for n in ("orders", "billing", "old"))
    feed: queue.Queue[Item] = queue.Queue()
    feed.put(Changed("postgreses", "MODIFIED", reading(orders, replicas=2)))
    feed.put(Changed("postgreses", "MODIFIED", reading(orders, replicas=1)))
    feed.put(Listed("postgreses", ()))  # not from a `from_now` watcher; ignored if seen
    feed.put(Changed("postgreses", "ADDED", reading(billing)))
    feed.put(Changed("postgreses", "MODIFIED", reading(gone)))
    feed.put(Changed("postgreses", "DELETED", reading(gone)))
    feed.put(Changed("postgresopsrequests", "MODIFIED", {"kind": "PostgresOpsRequest"}))
    changes = watching.take_changes(feed)
    assert changes.events == 6
    assert changes.present[orders.record.id].spec["replicas"] == 1
    assert set(changes.present) == {orders.record.id, billing.record.id}
    assert changes.gone == {gone.record.id}
    assert feed.empty()


def test_a_burst_is_taken_in_bounded_turns() -> None:
    snap = snapshot()
    feed: queue.Queue[Item] = queue.Queue()
    for _ in range(5):
        feed.put(Changed("postgreses", "MODIFIED", reading(snap)))
    assert watching.take_changes(feed, limit=3).events == 3
    assert watching.take_changes(feed, limit=3).events == 2


def test_judging_a_few_crs_finds_no_missing_database_unless_its_cr_was_deleted() -> None:
    seen, deleted, elsewhere = (snapshot(record(name=n)) for n in ("seen", "deleted", "other"))
    comparer = compare.Comparer([seen, deleted, elsewhere], project_of_namespace={})
    comparer.add(reading(seen, replicas=2))
    result = comparer.result(gone={deleted.record.id})
    assert sorted(d.describe() for d in result.drifts) == ["deleted missing", "seen replicas 2→3"]

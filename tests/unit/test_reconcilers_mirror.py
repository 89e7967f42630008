"""status-sync's mirror of the cluster: lists replace, events update, absence is deletion."""

from __future__ import annotations

import copy

from services.reconcilers.mirror import Mirror
from services.reconcilers.watching import Changed, Listed
from tests.reconcilers_support import cr_for, operation, ops_request, snapshot


def mirror() -> Mirror:
    return Mirror(["postgreses"], ["postgresopsrequests"])


def test_it_is_synced_only_after_every_resource_was_listed() -> None:
    m = mirror()
    m.apply(Listed("postgreses", ()))
    assert not m.synced
    m.apply(Listed("postgresopsrequests", ()))
    assert m.synced


def test_events_index_crs_by_database_id_and_report_whom_they_touched() -> None:
    snap = snapshot()
    m = mirror()
    cr = cr_for(snap)
    assert m.apply(Changed("postgreses", "ADDED", cr)) == {snap.record.id}
    assert m.database(snap.record.id) is cr
    assert m.apply(Changed("postgreses", "DELETED", cr)) == {snap.record.id}
    assert m.database(snap.record.id) is None


def test_a_relist_drops_what_it_no_longer_holds_and_skips_unchanged_objects() -> None:
    kept, dropped = snapshot(), snapshot()
    kept_cr, dropped_cr = cr_for(kept), cr_for(dropped)
    dropped_cr["metadata"]["name"] = "other"
    m = mirror()
    m.apply(Listed("postgreses", (kept_cr, dropped_cr)))
    same_version = copy.deepcopy(kept_cr)
    assert m.apply(Listed("postgreses", (same_version,))) == {dropped.record.id}
    assert m.database(dropped.record.id) is None
    newer = copy.deepcopy(kept_cr)
    newer["metadata"]["resourceVersion"] = "99"
    assert m.apply(Listed("postgreses", (newer,))) == {kept.record.id}


def test_ops_requests_are_found_by_operation_id() -> None:
    snap = snapshot()
    op = operation(snap.record.id, "scale")
    obj = ops_request(op, phase="Progressing")
    m = mirror()
    assert m.apply(Changed("postgresopsrequests", "ADDED", obj)) == set()
    assert m.ops_request(op.id) is obj
    assert [o for _, o in m.ops_requests()] == [obj]
    m.apply(Listed("postgresopsrequests", ()))
    assert m.ops_request(op.id) is None

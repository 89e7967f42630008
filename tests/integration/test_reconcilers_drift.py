"""drift against real PostgreSQL, Redis and the simulated cluster: passes, policies, requests."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator

import pytest

from services.reconcilers.drift import watching as watching_module
from services.reconcilers.drift.loop import DriftDetector
from services.store import databases, events, operations
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_world import NAMESPACE, World
from tests.integration.test_reconcilers_status_sync import FAST


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    world = World(database_url, redis_url, sim, FAST)
    world.sync.on_promoted()
    try:
        yield world
    finally:
        world.close()


def test_a_pass_over_many_databases_only_lists_never_gets_one_by_one(world: World) -> None:
    names = [f"db{i}" for i in range(12)]
    for name in names:
        world.ready(name)
    world.drift.page_limit = 5
    world.sim.reset_stats()
    outcome = world.drift.run_cycle()
    assert outcome.startswith("drift: 12 checked, 0 drifted, 0 orphans, 6 requests")
    stats = world.sim.stats()["requests"]
    assert stats.get("get", {}).get("postgreses", 0) == 0
    # postgreses: 12 CRs in pages of 5 -> 3 lists; the other three kinds one empty page each
    assert stats["list"]["postgreses"] == 3
    assert sum(stats["list"].values()) == world.drift.last_requests == 6


def test_an_out_of_band_edit_becomes_one_drift_operation_that_converges(world: World) -> None:
    db = world.ready("orders", replicas=3)
    world.sim.edit("postgreses", NAMESPACE, "orders", {"spec": {"replicas": 2}})
    outcome = world.drift.run_cycle()
    assert "1 drifted (orders replicas 2→3)" in outcome
    assert "1 operations (1 enqueued)" in outcome
    with world.connect() as conn:
        (op,) = operations.open_for_database(conn, db.id)
    assert (op.type, op.origin, op.params, op.previous) == (
        "scale",
        "drift",
        {"replicas": 3},
        {"replicas": 2},
    )
    assert world.queued_ids() == [str(op.id)]
    again = world.drift.run_cycle()
    assert "1 skipped" in again and "0 drifted" in again
    world.work(db.id)
    assert world.cycle_until(lambda: world.settled(op.id)).state == "succeeded"
    world.cycle_until(lambda: world.database(db.id).state == "ready")
    assert "0 drifted" in world.drift.run_cycle()
    assert world.cr("orders")["spec"]["replicas"] == 3


def test_a_cr_deleted_out_of_band_is_recreated_under_the_correct_policy(world: World) -> None:
    db = world.ready("orders")
    world.sim.vanish("postgreses", NAMESPACE, "orders")
    world.cycle_until(lambda: world.database(db.id).state == "degraded")
    assert "1 drifted (orders missing)" in world.drift.run_cycle()
    with world.connect() as conn:
        (op,) = operations.open_for_database(conn, db.id)
    assert (op.type, op.origin) == ("create", "drift")
    world.work(db.id)
    assert world.cycle_until(lambda: world.settled(op.id)).state == "succeeded"
    assert world.cycle_until(lambda: world.database(db.id).state == "ready")


def test_under_the_report_policy_a_drift_is_an_event_once_and_nothing_else(world: World) -> None:
    db = world.ready("orders", drift_policy="report")
    world.sim.vanish("postgreses", NAMESPACE, "orders")
    first, second = world.drift.run_cycle(), world.drift.run_cycle()
    assert "1 drifted (orders missing)" in first and "1 reported" in first
    assert "reported" not in second
    with world.connect() as conn:
        assert operations.open_for_database(conn, db.id) == []
        (event,) = events.of_kind(conn, "drift.detected")
    assert event.database_id == db.id and event.details["missing"] is True


def test_an_orphan_cr_is_reported_and_left_in_place(world: World) -> None:
    db = world.ready("orders")
    with world.connect() as conn:
        databases.set_state(conn, db.id, "deleted")  # the row is gone, the CR is not
    outcome = world.drift.run_cycle()
    assert "1 orphan," in outcome and "1 reported" in outcome
    assert "1 orphan," in world.drift.run_cycle()
    with world.connect() as conn:
        (event,) = events.of_kind(conn, "drift.orphan")
    assert event.details["name"] == "orders"
    assert world.cr("orders")["metadata"]["name"] == "orders"
    assert world.sim.requests("delete", "postgreses") == 0


def test_a_pass_keeps_no_listed_cr_once_it_is_over(world: World) -> None:
    names = {f"db{i}" for i in range(6)}
    for name in sorted(names):
        world.ready(name)
    world.sync.on_demoted()  # status-sync's watch feed would hold CRs of its own
    world.drift.page_limit = 2
    assert world.drift.run_cycle().startswith("drift: 6 checked, 0 drifted")
    gc.collect()
    listed = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, dict)
        and obj.get("apiVersion") == "kubedb.com/v1"
        and (obj.get("metadata") or {}).get("name") in names
    ]
    assert listed == []


@pytest.fixture
def watching(world: World) -> Iterator[DriftDetector]:
    """drift as `dbaas drift` runs it: watching the CRs while it leads, with a pass interval
    long enough that only the watch can find what a test changes."""
    drift = DriftDetector(
        pool=world.pool,
        cluster=world.cluster,
        queue=world.queue,
        interval_seconds=3600,
        watch_timeout=2,
    )
    drift.on_promoted()
    try:
        yield drift
    finally:
        drift.on_demoted()


def cycle_drift_until(drift: DriftDetector, probe: Callable[[], object]) -> list[str]:
    """Turn drift's loop (as the daemon does, without its pauses) until `probe` holds."""
    outcomes = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        outcomes.append(drift.run_cycle())
        if probe():
            return outcomes
        time.sleep(drift.pause())
    raise AssertionError(f"not found within 20 s; outcomes: {outcomes[-5:]}")


def test_while_leading_an_edit_is_corrected_from_the_watch_stream_without_a_pass(
    world: World, watching: DriftDetector
) -> None:
    db = world.ready("orders", replicas=3)
    first = watching.run_cycle()  # a new leader's first cycle: the full pass
    assert first.startswith("drift: 1 checked, 0 drifted")
    assert watching.pause() <= watching_module.EVENT_POLL_SECONDS  # no pass for an hour
    world.sim.reset_stats()
    world.sim.edit("postgreses", NAMESPACE, "orders", {"spec": {"replicas": 2}})

    def corrected() -> bool:
        with world.connect() as conn:
            return bool(operations.open_for_database(conn, db.id))

    outcomes = cycle_drift_until(watching, corrected)
    assert "drift: watch: " in outcomes[-1] and "orders replicas 2→3" in outcomes[-1]
    with world.connect() as conn:
        (op,) = operations.open_for_database(conn, db.id)
    assert (op.type, op.origin, op.params) == ("scale", "drift", {"replicas": 3})
    assert world.queued_ids() == [str(op.id)]
    assert world.sim.stats()["requests"].get("list", {}) == {}  # found by the watch alone


def test_from_the_watch_stream_a_deleted_cr_is_recreated_and_status_changes_find_nothing(
    world: World, watching: DriftDetector
) -> None:
    db = world.ready("orders")
    other = world.ready("billing")
    watching.run_cycle()
    world.sim.edit("postgreses", NAMESPACE, "billing", {"metadata": {"annotations": {"x": "y"}}})
    world.sim.vanish("postgreses", NAMESPACE, "orders")

    def recreating() -> bool:
        with world.connect() as conn:
            return bool(operations.open_for_database(conn, db.id))

    outcomes = cycle_drift_until(watching, recreating)
    assert "orders missing" in outcomes[-1]
    with world.connect() as conn:
        (op,) = operations.open_for_database(conn, db.id)
        assert op.type == "create"
        assert operations.open_for_database(conn, other.id) == []  # changed, not drifted

"""status-sync against real PostgreSQL, Redis and the simulated cluster, cycle by cycle."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from services.clients import queue as queue_client
from services.control import outcomes
from services.domain.resources import Resource
from services.reconcilers.status_sync.loop import SyncConfig
from services.store import events, operations
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_world import NAMESPACE, World

FAST = SyncConfig(
    pending_redispatch_seconds=3600,
    opsrequest_retention_seconds=3600,
    resync_interval_seconds=300,
    watch_timeout_seconds=1,
    poll_seconds=0.05,
    sync_timeout_seconds=10,
    sweep_every_seconds=0,
    cleanup_every_seconds=0,
)


@contextlib.contextmanager
def world_with(
    database_url: str, redis_url: str, sim: SimCluster, config: SyncConfig = FAST
) -> Iterator[World]:
    world = World(database_url, redis_url, sim, config)
    world.sync.on_promoted()
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    with world_with(database_url, redis_url, sim) as world:
        yield world


def test_a_created_database_becomes_ready_with_its_observed_status(world: World) -> None:
    record = world.create("orders")
    assert world.work(record.id).endswith("Postgres orders, created)")
    db = world.cycle_until(lambda: (found := world.database(record.id)).state == "ready" and found)
    assert (db.phase, db.observed_generation, db.generation) == ("Ready", 1, 1)
    assert db.endpoint == f"orders.{NAMESPACE}.svc:5432"
    assert db.observed_spec is not None and db.observed_spec["replicas"] == 2
    assert db.synced_at is not None
    assert any("1 succeeded (create" in line for line in world.outcomes)


def test_unchanged_status_is_never_written_again(world: World) -> None:
    db = world.ready("orders")
    for _ in range(5):
        world.outcomes.append(world.sync.run_cycle())
    assert world.database(db.id).synced_at == db.synced_at
    assert world.outcomes[-1] == "status-sync: idle"


def test_a_phase_change_in_the_cluster_reaches_the_row_and_back(world: World) -> None:
    db = world.ready("orders")
    world.sim.set_phase("postgreses", NAMESPACE, "orders", "Critical")
    degraded = world.cycle_until(
        lambda: (found := world.database(db.id)).phase == "Critical" and found
    )
    assert degraded.state == "degraded"
    world.sim.set_phase("postgreses", NAMESPACE, "orders", "Ready")
    assert world.cycle_until(lambda: world.database(db.id).state == "ready")


def test_a_scale_succeeds_and_the_observed_spec_matches_the_desired(world: World) -> None:
    db = world.ready("orders")
    (scale,) = world.patch(db.id, {"replicas": 3})
    assert "waiting" in world.work(db.id)
    assert world.cycle_until(lambda: world.settled(scale.id)).state == "succeeded"
    after = world.cycle_until(lambda: (found := world.database(db.id)).state == "ready" and found)
    assert after.observed_spec is not None and after.observed_spec["replicas"] == 3
    assert after.observed_generation == after.generation == 2


def test_a_cancelled_change_lets_the_observed_generation_catch_up(world: World) -> None:
    db = world.ready("orders")
    (scale,) = world.patch(db.id, {"replicas": 3})
    with world.connect() as conn:
        outcomes.cancel_operation(conn, world.principal, scale.id)
    raised = world.database(db.id)
    assert raised.observed_generation == 1 < raised.generation  # the change and its rollback
    # Nothing changes in the cluster, so no event brings the database back: the sweep does.
    caught_up = world.cycle_until(
        lambda: (found := world.database(db.id)).observed_generation == raised.generation and found
    )
    assert caught_up.replicas == 2 and caught_up.state == "ready"


def test_an_ops_request_failing_in_the_cluster_fails_the_operation_with_its_reason(
    world: World,
) -> None:
    db = world.ready("orders")
    world.sim.fail_next_ops("disk controller on fire", database=f"{NAMESPACE}/orders")
    (expand,) = world.patch(db.id, {"storage": "20Gi"})
    world.work(db.id)
    failed = world.cycle_until(lambda: world.settled(expand.id))
    assert failed.state == "failed"
    assert failed.error is not None and failed.error["type"] == "kubedb-ops-failed"
    assert "disk controller on fire" in failed.error["detail"]
    after = world.cycle_until(lambda: (found := world.database(db.id)).state == "ready" and found)
    assert after.storage == "10Gi", "the failure policy rolls desired back to the previous"
    with world.connect() as conn:
        kinds = [e.kind for e in events.for_database(conn, db.id)]
    assert "operation.failed" in kinds


def test_a_finished_operation_starts_the_next_one_queued_behind_it(world: World) -> None:
    record = world.create("orders")
    world.work(record.id)
    restart = world.restart(record.id)
    world.queue.empty()
    world.cycle_until(lambda: str(restart.id) in world.queued_ids())
    assert any("1 next enqueued" in line for line in world.outcomes)


def test_a_deleted_database_ends_deleted_once_its_cr_is_gone(world: World) -> None:
    db = world.ready("orders")
    delete = world.delete(db.id)
    world.work(db.id)
    assert world.cycle_until(lambda: world.settled(delete.id)).state == "succeeded"
    gone = world.database(db.id)
    assert gone.state == "deleted" and gone.deleted_at is not None


def test_a_duplicate_completion_changes_nothing(world: World) -> None:
    db = world.ready("orders")
    with world.connect() as conn:
        succeeded = [e for e in events.for_database(conn, db.id) if e.kind == "operation.succeeded"]
    for _ in range(3):
        world.sync.run_cycle()
    world.sync.on_demoted()
    world.sync.on_promoted()  # a new leader re-lists everything
    world.sync.run_cycle()
    with world.connect() as conn:
        again = [e for e in events.for_database(conn, db.id) if e.kind == "operation.succeeded"]
    assert again == succeeded


def test_the_sweeper_enqueues_operations_pending_too_long(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    config = SyncConfig(**{**FAST.__dict__, "pending_redispatch_seconds": 0})
    with world_with(database_url, redis_url, sim, config) as world:
        record = world.create("orders")
        world.queue.empty()
        outcome = world.sync.run_cycle()
        assert "1 swept" in outcome
        with world.connect() as conn:
            (op,) = operations.open_for_database(conn, record.id)
        assert world.queued_ids() == [str(op.id)]
        assert world.operation(op.id).enqueued_at is not None


def test_the_sweeper_adds_no_second_job_while_its_first_still_waits(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    # Behind a backlog longer than the threshold, a sweep per period must not pile up jobs.
    config = SyncConfig(**{**FAST.__dict__, "pending_redispatch_seconds": 0})
    with world_with(database_url, redis_url, sim, config) as world:
        record = world.create("orders")
        world.queue.empty()
        assert "1 swept" in world.sync.run_cycle()
        for _ in range(3):
            assert "swept" not in world.sync.run_cycle()
        with world.connect() as conn:
            (op,) = operations.open_for_database(conn, record.id)
        assert world.queued_ids() == [str(op.id)]
        (job,) = world.queue.get_jobs()
        assert 0 < world.redis.ttl(job.key) <= queue_client.REDISPATCH_TTL_SECONDS
        # Once the waiting job is gone (here: run elsewhere and expired), the next sweep
        # enqueues the still-pending operation again.
        world.queue.empty()
        assert "1 swept" in world.sync.run_cycle()
        assert world.queued_ids() == [str(op.id)]


def test_finished_ops_requests_are_deleted_only_after_the_retention(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    config = SyncConfig(**{**FAST.__dict__, "opsrequest_retention_seconds": 1})
    with world_with(database_url, redis_url, sim, config) as world:
        db = world.ready("orders")
        restart = world.restart(db.id)
        world.work(db.id)
        done = world.cycle_until(lambda: world.settled(restart.id))
        assert done.state == "succeeded" and done.k8s_name is not None
        assert world.sim.requests("delete", "postgresopsrequests") == 0
        world.cycle_until(lambda: world.sim.requests("delete", "postgresopsrequests") == 1)
        assert any("1 OpsRequests cleaned up" in line for line in world.outcomes)


def test_watches_dropped_and_compacted_miss_no_update(world: World) -> None:
    db = world.ready("orders")
    world.sim.drop_watches()
    world.sim.set_phase("postgreses", NAMESPACE, "orders", "NotReady")
    world.cycle_until(lambda: world.database(db.id).phase == "NotReady")
    world.sim.compact()
    world.sim.set_phase("postgreses", NAMESPACE, "orders", "Critical")
    world.cycle_until(lambda: world.database(db.id).phase == "Critical")
    assert world.sync.watchers is not None
    stats = world.sync.watchers.stats()["postgreses"]
    assert stats.gone >= 1 or stats.lists >= 2


def test_watch_threads_are_named_and_stop_with_the_program(world: World) -> None:
    assert world.sync.watchers is not None
    # this program's own threads (an earlier test's may still be ending in this process)
    threads = [watcher.thread for watcher in world.sync.watchers.watchers]
    names = {thread.name for thread in threads}
    assert names == {f"status-sync-watch-{plural}" for plural in world.sync.resources}
    assert "status-sync-watch-postgreses" in names and len(names) == 8  # no backups here
    assert all(thread.is_alive() for thread in threads)
    world.sync.on_demoted()
    assert [thread.name for thread in threads if thread.is_alive()] == []


def test_an_ops_request_skipped_by_kubedb_fails_the_operation_as_superseded(
    world: World,
) -> None:
    db = world.ready("orders")
    world.sim.set_phase("postgreses", NAMESPACE, "orders", "NotReady")  # IfReady ops wait
    (scale,) = world.patch(db.id, {"replicas": 3})
    world.work(db.id)
    ops = Resource("ops.kubedb.com", "v1alpha1", "postgresopsrequests", "PostgresOpsRequest")
    world.cluster.create(  # someone else's newer request of the same type
        ops,
        NAMESPACE,
        {
            "apiVersion": "ops.kubedb.com/v1alpha1",
            "kind": "PostgresOpsRequest",
            "metadata": {"name": "zz-a-newer-scale", "namespace": NAMESPACE},
            "spec": {
                "type": "HorizontalScaling",
                "databaseRef": {"name": "orders"},
                "horizontalScaling": {"replicas": 3},
            },
        },
    )
    failed = world.cycle_until(lambda: world.settled(scale.id))
    assert failed.state == "failed"
    assert failed.error is not None and failed.error["type"] == "kubedb-ops-superseded"
    assert "zz-a-newer-scale" in failed.error["detail"]


def test_a_cycle_checks_only_the_operations_whose_cr_changed_and_a_full_check_the_rest(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    with world_with(database_url, redis_url, sim) as world:
        now = [time.monotonic()]
        world.sync.clock = lambda: now[0]  # time stands still unless the test moves it
        world.outcomes.append(world.sync.run_cycle())  # the first check is a full one
        record = world.create("orders")
        # the sim makes the create at once and holds its answer: while the worker waits for
        # it, the CR turns Ready and status-sync takes every event in, the operation still
        # running. Once marked waiting, no event will ever announce it.
        sim.set_latency(5.0, verbs=["create"], after=True)  # ample for the CR to turn Ready
        worker = threading.Thread(target=world.work, args=(record.id,))
        worker.start()
        try:
            world.cycle_until(
                lambda: (cr := world.sync.mirror.database(record.id)) and cr.phase == "Ready"
            )
        finally:
            worker.join()
            sim.clear_faults()
        with world.connect() as conn:
            (create,) = operations.open_for_database(conn, record.id)
        assert create.state == "waiting"
        for _ in range(3):
            world.outcomes.append(world.sync.run_cycle())
        assert world.operation(create.id).state == "waiting", "checked without a change"
        now[0] += FAST.completion_check_seconds
        world.outcomes.append(world.sync.run_cycle())
        assert world.operation(create.id).state == "succeeded", world.outcomes[-3:]
        # a change is checked at once, with time still standing
        (scale,) = world.patch(record.id, {"replicas": 3})
        world.work(record.id)
        assert world.cycle_until(lambda: world.settled(scale.id)).state == "succeeded"
        assert now[0] == world.sync.clock()


def test_an_ops_request_stuck_progressing_fails_its_operation_once_the_timeout_passes(
    world: World, sim: SimCluster
) -> None:
    db = world.ready("orders")  # created under the default timeout
    world.sync.config = dataclasses.replace(FAST, operation_timeout_seconds=5.0)
    sim.hang_next_ops(database=f"{NAMESPACE}/orders")
    (scale,) = world.patch(db.id, {"replicas": 3})
    assert "waiting" in world.work(db.id)
    for _ in range(3):
        world.outcomes.append(world.sync.run_cycle())
    assert world.operation(scale.id).state == "waiting"  # KubeDB is still at it
    failed = world.cycle_until(lambda: world.settled(scale.id), timeout=30)
    assert failed.state == "failed"
    assert failed.error is not None and failed.error["type"] == "operation-timed-out"
    assert failed.error["detail"].startswith("scale not finished 5 s after it started; ")
    assert failed.error["detail"].endswith(" is Progressing")
    assert failed.started_at is not None and failed.finished_at is not None
    assert (failed.finished_at - failed.started_at).total_seconds() >= 5.0
    assert world.database(db.id).replicas == 2, "the failure policy rolls desired back"

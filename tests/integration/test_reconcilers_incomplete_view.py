"""status-sync while one kind of database cannot be listed (its CRD missing, its list denied).

Its view of the cluster stays incomplete, so a database whose CR disappeared cannot be told
apart from one not listed yet: its status write and its deletion wait for a complete view.
Waiting must be waiting: the loop keeps its pace (one poll per cycle) instead of turning
without pause and hammering PostgreSQL, and the deletion completes once the list succeeds.
"""

from __future__ import annotations

import dataclasses
import time

from tests.fixtures_sim import SimCluster
from tests.integration.test_reconcilers_status_sync import FAST, world_with

POLL = 0.3
CONFIG = dataclasses.replace(FAST, poll_seconds=POLL, sync_timeout_seconds=1)


def test_a_deleted_cr_in_an_incomplete_view_waits_at_the_loops_pace_then_completes(
    database_url: str, redis_url: str, sim: SimCluster
) -> None:
    sim.inject_errors([500], verbs=["list"], resources=["mongodbs"])
    with world_with(database_url, redis_url, sim, CONFIG) as world:
        assert not world.sync.mirror.synced
        record = world.ready("orders")
        delete_op = world.delete(record.id)
        world.work(record.id)
        world.cycle_until(lambda: world.sync.mirror.database(record.id) is None)
        assert record.id in world.sync.dirty  # held back: absent from an incomplete view

        started, cycles = time.monotonic(), 5
        for _ in range(cycles):
            world.sync.run_cycle()
        assert time.monotonic() - started >= (cycles - 1) * POLL, "the loop spun without waiting"
        assert world.operation(delete_op.id).state == "waiting"

        sim.clear_faults()
        world.cycle_until(lambda: world.settled(delete_op.id), timeout=40)
        assert world.operation(delete_op.id).state == "succeeded"
        assert world.sync.mirror.synced

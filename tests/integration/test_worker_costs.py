"""What one operation costs the worker: PostgreSQL round trips, namespace calls, and the
dead-connection path that the pool's missing checkout ping leaves to the worker."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import weakref
from collections.abc import Iterator
from typing import IO

import psycopg
import pytest
from psycopg import pq

from services.clients import postgres
from services.domain import engines
from services.settings import Settings
from services.worker import context, jobs
from tests.fixtures_sim import SimCluster
from tests.integration.test_worker_support import (
    NAMESPACE,
    World,
    db_resource,
    make_world,
    read_object,
)


@pytest.fixture
def world(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[World]:
    yield from make_world(database_url, redis_url, sim.api_client())


@pytest.fixture
def production(database_url: str, redis_url: str, sim: SimCluster) -> Iterator[context.Context]:
    """The context `dbaas worker` builds: its pool (no ping on checkout), its clients."""
    settings = Settings(
        database_url=database_url, redis_url=redis_url, kubeconfig=str(sim.kubeconfig)
    )
    built = context.build(settings, worker_name="costs")
    try:
        yield built
    finally:
        built.close()


class RoundTrips:
    """Counts the PostgreSQL round trips of every connection a context hands out (libpq's
    protocol trace: one ReadyForQuery from the server ends each round trip)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.traced: weakref.WeakSet[postgres.Connection] = weakref.WeakSet()

    def wrap(self, ctx: context.Context) -> context.Context:
        @contextlib.contextmanager
        def connect() -> Iterator[postgres.Connection]:
            with ctx.connect() as conn:
                if conn not in self.traced:
                    conn.pgconn.trace(self.sink.fileno())
                    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                    self.traced.add(conn)
                yield conn

        return dataclasses.replace(ctx, connect=connect)

    def reset(self) -> None:
        self.sink.seek(0)
        self.sink.truncate()

    def count(self) -> int:
        self.sink.seek(0)
        lines = self.sink.read().decode(errors="replace").splitlines()
        self.sink.seek(0, 2)
        return sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery\t" in line)


def test_a_create_costs_the_worker_two_postgresql_round_trips(
    world: World, production: context.Context
) -> None:
    _, first = world.create("postgres", "warm-up", enqueue=False)
    database, create = world.create("postgres", "orders", enqueue=False)
    with tempfile.TemporaryFile() as sink:
        trips = RoundTrips(sink)
        traced = trips.wrap(production)
        assert "waiting" in jobs.execute(traced, str(first.id))  # connection set up
        trips.reset()

        outcome = jobs.execute(traced, str(create.id))

        assert "waiting (Postgres orders, created)" in outcome
        assert trips.count() == 2  # the claim, the hand-over: no ping, no BEGIN/COMMIT
    op = world.op(create.id)
    assert (op.state, op.k8s_kind, op.k8s_name, op.attempt) == ("waiting", "Postgres", "orders", 1)
    started = [e for e in world.events("operation.started") if e.operation_id == create.id]
    assert [(e.message, e.actor, e.database_id) for e in started] == [
        ("create of orders started (attempt 1)", "worker", database.id)
    ]
    assert started[0].details["attempt"] == 1
    assert str(started[0].details["owner"]).startswith("costs/")
    applied = [e for e in world.events("operation.applied") if e.operation_id == create.id]
    assert [(e.message, e.details) for e in applied] == [
        (
            "create: Postgres orders created",
            {"kind": "Postgres", "name": "orders", "result": "created"},
        )
    ]


def test_a_claim_that_fails_writes_no_event(world: World) -> None:
    _, create = world.create("postgres", "orders", enqueue=False)
    world.set_op(create.id, state="waiting")

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: not claimable (state waiting)"
    assert world.events("operation.started") == []
    assert world.op(create.id).attempt == 0


def test_creates_in_one_project_ensure_its_namespace_once_per_worker_process(
    world: World, sim: SimCluster
) -> None:
    for name in ("orders", "books", "carts"):
        world.create("postgres", name)

    outcomes = world.work()

    assert [outcome.split(": ", 1)[1] for outcome in outcomes] == [
        f"waiting (Postgres {name}, created)" for name in ("orders", "books", "carts")
    ]
    assert sim.requests("create", "namespaces") == 1
    assert sim.requests("create", "postgreses") == 3


def test_a_namespace_deleted_since_it_was_ensured_is_ensured_again_and_the_create_retried(
    world: World, sim: SimCluster
) -> None:
    _, first = world.create("postgres", "orders", enqueue=False)
    assert "waiting" in world.run(first)
    sim.vanish("namespaces", "", NAMESPACE)

    _, second = world.create("mysql", "books", enqueue=False)
    outcome = world.run(second)

    assert outcome == f"operation {second.id}: waiting (MySQL books, created)"
    assert sim.requests("create", "namespaces") == 2
    assert sim.requests("create", engines.spec_for("mysql").plural) == 2  # 404, then created
    assert read_object(world.cluster.api_client, db_resource("mysql"), "books") is not None


def test_a_pooled_connection_that_died_is_replaced_and_the_operation_carries_on(
    world: World, production: context.Context, caplog: pytest.LogCaptureFixture
) -> None:
    _, first = world.create("postgres", "orders", enqueue=False)
    _, second = world.create("postgres", "books", enqueue=False)
    assert "waiting" in jobs.execute(production, str(first.id))
    with world.conn() as conn:  # a PostgreSQL restart, as the worker's pool sees it
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed["n"] >= 1

    with caplog.at_level(logging.WARNING, logger=jobs.__name__):
        outcome = jobs.execute(production, str(second.id))

    assert outcome == f"operation {second.id}: waiting (Postgres books, created)"
    lost = [r.getMessage() for r in caplog.records if "connection lost" in r.getMessage()]
    assert lost, "the dead connection was not met"
    op = world.op(second.id)
    assert (op.state, op.attempt) == ("waiting", 1)


def test_postgresql_down_fails_the_job_and_leaves_the_operation_to_the_sweeper(
    world: World,
) -> None:
    _, create = world.create("postgres", "orders", enqueue=False)
    unreachable = dataclasses.replace(
        world.context, connect=lambda: postgres.connect("postgresql://127.0.0.1:1/none")
    )

    with pytest.raises(psycopg.OperationalError):
        jobs.execute(unreachable, str(create.id))

    op = world.op(create.id)
    assert (op.state, op.attempt, op.error) == ("pending", 0, None)

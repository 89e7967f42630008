"""The worker against a cluster that refuses connections: retried, released, finally failed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from services.worker.retrying import RetryPolicy
from tests.integration.test_worker_support import World, make_world, unreachable_api_client


@pytest.fixture
def world(database_url: str, redis_url: str) -> Iterator[World]:
    yield from make_world(database_url, redis_url, unreachable_api_client())


def test_connection_errors_are_retried_with_backoff_then_the_operation_is_released(
    world: World,
) -> None:
    _, create = world.create("postgres", "orders", enqueue=False)

    outcome = world.run(create)

    assert "released after 5 transient errors (claim 1/8)" in outcome
    assert world.sleeps == [0.2, 0.4, 0.8, 1.6]
    op = world.op(create.id)
    assert (op.state, op.attempt, op.lease_owner) == ("pending", 1, None)
    released = world.events("operation.released")
    assert [event.operation_id for event in released] == [create.id]
    assert released[0].details["status"] == 0


def test_an_operation_that_keeps_meeting_transient_errors_fails_on_its_last_claim(
    world: World,
) -> None:
    database, create = world.create("postgres", "orders", enqueue=False)
    world.set_op(create.id, attempt=RetryPolicy().max_claims - 1)

    outcome = world.run(create)

    assert "failed (kubernetes-unavailable" in outcome
    op = world.op(create.id)
    assert op.state == "failed" and op.attempt == RetryPolicy().max_claims
    assert op.error is not None
    assert op.error["type"] == "kubernetes-unavailable" and op.error["status"] == 503
    assert op.error["kubernetes"]["reason"] == "ConnectionError"
    with world.conn() as conn:
        state = conn.execute("SELECT state FROM databases WHERE id = %s", (database.id,))
        assert state.fetchone() == {"state": "failed"}


def test_a_claim_beyond_the_limit_fails_without_calling_kubernetes(world: World) -> None:
    _, create = world.create("mysql", "books", enqueue=False)
    world.set_op(create.id, attempt=RetryPolicy().max_claims)

    outcome = world.run(create)

    assert "failed (operation-abandoned" in outcome
    assert world.sleeps == []
    assert world.op(create.id).state == "failed"


def test_backoff_delays_grow_to_the_cap_with_jitter_around_them() -> None:
    policy = RetryPolicy(tries=7, base=0.2, cap=3.0)
    assert policy.delays(lambda: 0.5) == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0]
    low, high = policy.delays(lambda: 0.0), policy.delays(lambda: 0.999)
    assert low == [0.1, 0.2, 0.4, 0.8, 1.5, 1.5]
    assert all(a < b <= 3.0 for a, b in zip(low, high, strict=True))


def test_a_worker_that_lost_its_lease_while_retrying_stops_without_touching_the_operation(
    world: World,
) -> None:
    _, create = world.create("redis", "cache", enqueue=False)

    def sleep_while_another_worker_takes_over(seconds: float) -> None:
        world.sleeps.append(seconds)
        world.set_op(create.id, lease_owner="other-worker/2", attempt=2)

    world.context = dataclasses.replace(world.context, sleep=sleep_while_another_worker_takes_over)

    outcome = world.run(create)

    assert outcome == f"operation {create.id}: lease lost to another worker while retrying"
    assert world.sleeps == [0.2]
    op = world.op(create.id)
    assert (op.state, op.lease_owner, op.attempt) == ("running", "other-worker/2", 2)
    assert world.events("operation.released") == []

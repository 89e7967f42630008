"""`postgres.retry_conflicts`: a deadlock victim or serialization failure runs again, bounded."""

from __future__ import annotations

import psycopg
import pytest

from services.clients import postgres


def test_a_deadlock_victim_runs_again_and_its_answer_is_returned() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "done"

    assert postgres.retry_conflicts(work, sleep=sleeps.append, random_source=lambda: 0.5) == "done"
    assert len(calls) == 3
    assert sleeps == [0.01, 0.02]


def test_conflicts_past_the_bound_propagate_and_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def always_conflicting() -> None:
        calls.append(1)
        raise psycopg.errors.SerializationFailure("could not serialize")

    with pytest.raises(psycopg.errors.SerializationFailure):
        postgres.retry_conflicts(always_conflicting, tries=4, sleep=lambda _: None)
    assert len(calls) == 4

    def broken() -> None:
        calls.append(1)
        raise psycopg.errors.UniqueViolation("duplicate")

    calls.clear()
    with pytest.raises(psycopg.errors.UniqueViolation):
        postgres.retry_conflicts(broken, sleep=lambda _: None)
    assert len(calls) == 1

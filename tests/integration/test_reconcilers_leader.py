"""Leader election on a PostgreSQL advisory lock: one leader, fast takeover, per program."""

from __future__ import annotations

import functools

import psycopg

from services.clients import postgres
from services.reconcilers.leader import AdvisoryLockElector


def elector(database_url: str, program: str = "status-sync") -> AdvisoryLockElector:
    return AdvisoryLockElector(
        functools.partial(postgres.connect, database_url, autocommit=True), program=program
    )


def terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        # With a timeout the call waits until the backend has exited (PostgreSQL >= 14).
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_of_two_electors_exactly_one_leads_and_keeps_leading(database_url: str) -> None:
    first, second = elector(database_url), elector(database_url)
    try:
        assert first.check()
        assert not second.check()
        for _ in range(3):
            assert first.check() and not second.check()
    finally:
        first.release()
        second.release()


def test_the_standby_takes_over_when_the_leaders_connection_dies(database_url: str) -> None:
    leader, standby = elector(database_url), elector(database_url)
    try:
        assert leader.check() and not standby.check()
        pid = leader.backend_pid
        assert pid is not None
        terminate(database_url, pid)
        assert standby.check(), "the lock must die with the leader's session"
        assert not leader.check(), "the old leader must notice it lost the lock"
        assert not leader.is_leader
        assert standby.check()
    finally:
        leader.release()
        standby.release()


def test_a_released_lock_is_taken_by_the_standby_on_its_next_try(database_url: str) -> None:
    leader, standby = elector(database_url), elector(database_url)
    try:
        assert leader.check()
        leader.release()
        assert standby.check()
        assert not leader.check()
    finally:
        leader.release()
        standby.release()


def test_status_sync_and_drift_elect_independently(database_url: str) -> None:
    sync, drift = elector(database_url, "status-sync"), elector(database_url, "drift")
    try:
        assert sync.check() and drift.check()
    finally:
        sync.release()
        drift.release()


def test_an_unreachable_database_means_not_leader_without_raising() -> None:
    down = elector("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert not down.check()
    assert down.backend_pid is None

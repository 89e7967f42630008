"""A quiet reconciler stays quiet in the log: repeated idle or standby turns are DEBUG lines,
with one INFO reminder a minute; and a standby that cannot reach PostgreSQL says so."""

from __future__ import annotations

import logging

import psycopg
import pytest

from services.reconcilers.daemon import QUIET_REMINDER_SECONDS, Daemon
from services.reconcilers.leader import AdvisoryLockElector
from tests.unit.test_reconcilers_daemon import Elector, Program

LOGGER = "services.reconcilers.daemon"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_turns(daemon: Daemon, clock: Clock, turns: int, *, step: float) -> None:
    """`turns` turns of the loop, the fake clock advancing `step` seconds per sleep."""
    count = 0

    def sleep(seconds: float) -> None:
        nonlocal count
        count += 1
        clock.now += step
        if count >= turns:
            daemon.request_stop()

    daemon.sleep = sleep
    daemon.run()


def levels(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.levelname for r in caplog.records if r.name == LOGGER and r.getMessage() == text]


def test_a_standby_logs_info_once_a_minute_and_debug_in_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = Clock()
    daemon = Daemon(Program([]), Elector([False]), standby_seconds=2.0, clock=clock)
    run_turns(daemon, clock, turns=61, step=2.0)  # two minutes of standby turns
    found = levels(caplog, "test-program: standby (another instance leads)")
    assert len(found) == 61
    assert found.count("INFO") == 3  # the first turn, then one reminder per minute
    assert found[0] == "INFO" and found[1:30] == ["DEBUG"] * 29


def test_an_idle_leader_logs_idle_at_info_only_after_work_or_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = Clock()
    outcomes: list[object] = ["test-program: idle"] * 5 + ["test-program: 2 synced"]
    outcomes += ["test-program: idle"] * 3
    daemon = Daemon(Program(outcomes), Elector([True]), clock=clock)
    run_turns(daemon, clock, turns=len(outcomes), step=1.0)
    expected = ["INFO", *["DEBUG"] * 4, "INFO", "DEBUG", "DEBUG"]
    assert levels(caplog, "test-program: idle") == expected
    assert levels(caplog, "test-program: 2 synced") == ["INFO"]


def test_outcomes_that_did_something_are_info_every_time(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = Clock()
    daemon = Daemon(Program(["test-program: 1 swept"] * 4), Elector([True]), clock=clock)
    run_turns(daemon, clock, turns=4, step=1.0)
    assert levels(caplog, "test-program: 1 swept") == ["INFO"] * 4


def test_a_standby_that_cannot_reach_postgres_says_so_instead_of_blaming_another_leader() -> None:
    def unreachable() -> psycopg.Connection[object]:
        raise psycopg.OperationalError("connection refused")

    elector = AdvisoryLockElector(unreachable, program="status-sync")  # type: ignore[arg-type]
    program = Program([])
    program.name = "status-sync"
    clock = Clock()
    daemon = Daemon(program, elector, clock=clock)
    run_turns(daemon, clock, turns=1, step=QUIET_REMINDER_SECONDS)
    assert daemon.outcomes == ["status-sync: standby (cannot reach PostgreSQL: OperationalError)"]
    assert elector.why_not is not None

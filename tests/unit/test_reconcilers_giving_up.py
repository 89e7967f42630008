"""A leader that cannot work gives leadership up; every turn and every second of a wait beats.

Driven by a fake clock that the injected sleep advances: no wall time.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.reconcilers import wiring
from services.reconcilers.backoff import Backoff
from services.reconcilers.daemon import Daemon
from services.settings import Settings
from services.supervision import heartbeats
from tests.unit.test_reconcilers_daemon import Elector, Program


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Beats:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.leader: bool | None = None
        self.gauges: dict[str, dict[str, float]] = {}
        self.at: list[tuple[float, bool | None]] = []
        self.successes: list[float] = []

    def succeeded(self) -> None:
        self.successes.append(self.clock())

    def beat(self) -> None:
        self.at.append((self.clock(), self.leader))


def _daemon(
    program: Program, elector: Elector, *, turns: int, give_up: float | None = 10.0
) -> tuple[Daemon, Clock, Beats, list[float]]:
    clock = Clock()
    beats = Beats(clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        if len(slept) >= turns:
            daemon.request_stop()

    daemon = Daemon(
        program,
        elector,
        standby_seconds=2.0,
        clock=clock,
        sleep=sleep,
        backoff=Backoff(initial=1.0, maximum=30.0),
        heartbeat=beats,
        beat_every=1.0,
        give_up_seconds=give_up,
    )
    return daemon, clock, beats, slept


def test_a_leader_whose_cycles_keep_failing_gives_leadership_up_and_stands_back() -> None:
    failures: list[object] = [RuntimeError("cluster unreachable")] * 20
    program = Program(failures)
    elector = Elector([True])
    daemon, _, beats, _ = _daemon(program, elector, turns=40)
    daemon.run()
    # failed at 0, 1, 3, 7, 15 s (backoff 1, 2, 4, 8): at the fifth, 15 s after the first,
    # past the 10 s bound: demoted, lock released, standby for 10 s, then leads again
    assert program.calls[:7] == ["promoted", *["cycle"] * 5, "demoted"]
    assert elector.released
    assert any("gave leadership up" in outcome for outcome in daemon.outcomes)
    assert program.calls.count("promoted") >= 2  # alone, it takes leadership back later
    assert beats.successes == []


def test_a_leader_that_recovers_within_the_bound_keeps_leading() -> None:
    program = Program([RuntimeError("blip"), RuntimeError("blip"), *["test-program: idle"] * 30])
    elector = Elector([True])
    daemon, _, beats, _ = _daemon(program, elector, turns=30)
    daemon.run()
    assert program.calls.count("demoted") == 1  # only at shutdown
    assert program.calls.count("promoted") == 1
    assert len(beats.successes) >= 1


def test_a_program_that_says_it_cannot_work_makes_its_leader_give_up() -> None:
    # status-sync: cycles succeed (they drain an empty feed) while every watch fails
    program = Program(["test-program: idle"] * 50)
    failing_since: list[float | None] = [None]
    program.failing_since = lambda: failing_since[0]  # type: ignore[attr-defined]
    program.pause = lambda: 1.0  # type: ignore[method-assign]
    elector = Elector([True])
    daemon, clock, beats, _ = _daemon(program, elector, turns=30)
    failing_since[0] = clock.now  # the watches fail from the start
    daemon.run()
    # cycles every second from 0 s; at 10 s the leader gives up, before the
    # shutdown (which demotes once more after it leads again)
    assert program.calls[:13] == ["promoted", *["cycle"] * 11, "demoted"]
    assert any("gave leadership up" in outcome for outcome in daemon.outcomes)
    assert beats.successes == []


def test_without_a_bound_a_failing_leader_keeps_leading() -> None:
    program = Program([RuntimeError("down")] * 20)
    daemon, _, _, _ = _daemon(program, Elector([True]), turns=15, give_up=None)
    daemon.run()
    assert program.calls.count("demoted") == 1  # at shutdown only


def test_the_loop_beats_every_second_while_it_waits_and_says_whether_it_leads() -> None:
    program = Program(["test-program: done", "test-program: done"])
    program.pause = lambda: 5.0  # type: ignore[method-assign]
    daemon, _, beats, slept = _daemon(program, Elector([True]), turns=5)
    daemon.run()
    assert slept == [1.0] * 5  # a 5 s pause waited in 1 s steps, each followed by a beat
    # one beat before the first turn (not leading yet), one after it, one per second waited,
    # and a last one at the stop, no longer leading
    assert beats.at[0] == (1000.0, False)
    times = [at for at, _ in beats.at[1:-1]]
    assert times == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
    assert all(leader for _, leader in beats.at[1:-1])
    assert beats.at[-1] == (1005.0, False)
    assert beats.successes == [1000.0]


def test_a_standby_beats_as_a_standby() -> None:
    daemon, _, beats, _ = _daemon(Program([]), Elector([False]), turns=4)
    daemon.run()
    assert beats.at and all(leader is False for _, leader in beats.at)


class CountingElector(Elector):
    def __init__(self, clock: Clock) -> None:
        super().__init__([True])
        self.clock = clock
        self.checked_at: list[float] = []

    def check(self) -> bool:
        self.checked_at.append(self.clock())
        return super().check()


def test_an_instance_whose_predecessor_froze_stands_back_before_contending() -> None:
    clock = Clock()
    elector = CountingElector(clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        if len(slept) >= 10:
            daemon.request_stop()

    daemon = Daemon(
        Program(["test-program: idle"] * 20),
        elector,
        standby_seconds=2.0,
        clock=clock,
        sleep=sleep,
        stand_back_seconds=6.0,
    )
    daemon.run()
    # no leadership attempt during the first 6 s: a standby elsewhere gets the freed lock
    assert elector.checked_at[0] == 1006.0
    assert daemon.outcomes[0] == (
        "test-program: standby (predecessor froze while leading; standing back)"
    )


def test_only_a_predecessor_that_led_and_went_silent_makes_a_new_instance_stand_back(
    tmp_path: Path,
) -> None:
    config = Settings.from_env({"DBAAS_HOME": str(tmp_path)})
    timeout = config.heartbeat_timeout_seconds
    now = time.time()

    def previous(*, leader: bool, age: float) -> float:
        heartbeats.write(tmp_path, heartbeats.Beat("drift", pid=1, at=now - age, leader=leader))
        return wiring.stand_back_after_freeze(config, "drift", 2.0)

    assert wiring.stand_back_after_freeze(config, "drift", 2.0) == 0.0  # first start
    assert previous(leader=True, age=timeout + 2) == 6.0  # frozen leader, killed
    assert previous(leader=True, age=1) == 0.0  # stopped or crashed while beating
    assert previous(leader=False, age=timeout + 2) == 0.0  # a frozen standby

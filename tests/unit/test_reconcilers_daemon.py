"""The daemon skeleton: leadership gates cycles, signals stop it warmly, failures back off."""

from __future__ import annotations

import os
import signal
import socket
import threading
import urllib.request

from services.reconcilers import metrics
from services.reconcilers.backoff import Backoff
from services.reconcilers.daemon import Daemon


class Program:
    name = "test-program"

    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    def run_cycle(self) -> str:
        self.calls.append("cycle")
        result = self.outcomes.pop(0)
        if isinstance(result, Exception):
            raise result
        assert isinstance(result, str)
        return result

    def on_promoted(self) -> None:
        self.calls.append("promoted")

    def on_demoted(self) -> None:
        self.calls.append("demoted")

    def pause(self) -> float:
        return 7.0


class Elector:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.released = False

    def check(self) -> bool:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def release(self) -> None:
        self.released = True


class Sleeps:
    """An injected sleep that records delays and stops the daemon after `turns` sleeps."""

    def __init__(self, turns: int) -> None:
        self.delays: list[float] = []
        self.turns = turns
        self.daemon: Daemon | None = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.turns and self.daemon is not None:
            self.daemon.request_stop()


def make(program: Program, elector: Elector, turns: int) -> tuple[Daemon, Sleeps]:
    sleeps = Sleeps(turns)
    daemon = Daemon(
        program, elector, standby_seconds=2.0, sleep=sleeps, backoff=Backoff(initial=1.0)
    )
    sleeps.daemon = daemon
    return daemon, sleeps


def test_a_standby_never_runs_a_cycle_and_retries_every_standby_interval() -> None:
    program = Program([])
    daemon, sleeps = make(program, Elector([False]), turns=3)
    daemon.run()
    assert program.calls == []
    assert sleeps.delays == [2.0, 2.0, 2.0]
    assert daemon.outcomes[-1] == "test-program: standby (another instance leads)"


def test_leadership_promotes_runs_cycles_and_demotes_when_lost() -> None:
    program = Program(["test-program: 1 done", "test-program: 2 done"])
    elector = Elector([True, True, False])
    daemon, sleeps = make(program, elector, turns=3)
    daemon.run()
    assert program.calls == ["promoted", "cycle", "cycle", "demoted"]
    assert daemon.outcomes[:2] == ["test-program: 1 done", "test-program: 2 done"]
    assert sleeps.delays == [7.0, 7.0, 2.0]
    assert elector.released


def test_a_failing_cycle_is_retried_with_growing_backoff_then_recovers() -> None:
    program = Program([ConnectionError("db down"), ConnectionError("db down"), "test-program: ok"])
    daemon, sleeps = make(program, Elector([True]), turns=3)
    daemon.run()
    assert sleeps.delays == [1.0, 2.0, 7.0]
    assert daemon.outcomes[0] == "test-program: error: ConnectionError: db down"
    assert daemon.outcomes[2] == "test-program: ok"


def test_sigterm_finishes_the_current_cycle_then_demotes_and_releases() -> None:
    elector = Elector([True])
    program = Program([])

    def cycle_then_signal() -> str:
        program.calls.append("cycle")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-cycle
        return "test-program: finished anyway"

    program.run_cycle = cycle_then_signal  # type: ignore[method-assign]
    daemon = Daemon(program, elector, sleep=lambda seconds: None)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        daemon.install_signal_handlers()
        outcome = daemon.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert outcome == "test-program: finished anyway"
    assert program.calls == ["promoted", "cycle", "demoted"]
    assert elector.released


class Beats:
    """A heartbeat that records what each beat said of leadership."""

    def __init__(self) -> None:
        self.leader: bool | None = None
        self.gauges: dict[str, float] = {}
        self.said: list[bool | None] = []

    def succeeded(self) -> None:
        pass

    def beat(self) -> None:
        self.said.append(self.leader)


def test_a_clean_stop_beats_last_that_it_no_longer_leads() -> None:
    elector = Elector([True])
    program = Program(["test-program: 1 written"])
    beats = Beats()
    daemon = Daemon(program, elector, sleep=lambda seconds: None, heartbeat=beats)
    daemon.run(once=True)
    assert True in beats.said
    assert beats.said[-1] is False
    assert program.calls[-1] == "demoted"


def test_once_runs_a_single_turn() -> None:
    program = Program(["test-program: idle"])
    daemon = Daemon(program, Elector([True]), sleep=lambda seconds: None)
    assert daemon.run(once=True) == "test-program: idle"
    assert program.calls == ["promoted", "cycle", "demoted"]


def test_cycles_are_counted_and_served_as_prometheus_metrics() -> None:
    program = Program(["test-program: 3 done", "test-program: idle"])
    daemon, _ = make(program, Elector([True]), turns=2)
    daemon.run()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = metrics.serve(port, addr="127.0.0.1")
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        stop()
    assert 'dbaas_reconciler_cycles_total{program="test-program",result="ok"}' in text
    assert 'dbaas_reconciler_cycles_total{program="test-program",result="idle"}' in text
    assert 'dbaas_reconciler_leader{program="test-program"} 0.0' in text  # released at exit
    assert 'dbaas_reconciler_cycle_seconds_count{program="test-program"}' in text
    assert metrics.serve(0) is None


def test_sigterm_while_promoting_ends_the_programs_wait_and_skips_the_cycle() -> None:
    """status-sync's first lists can take long: a stop request must reach its wait (through
    the event the daemon shares with it) and no cycle must follow the promotion."""
    stop = threading.Event()
    program = Program([])

    def promote_until_stopped() -> None:
        program.calls.append("promoted")
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the program waits
        assert stop.wait(timeout=5)  # what status-sync's wait for its lists watches

    program.on_promoted = promote_until_stopped  # type: ignore[method-assign]
    elector = Elector([True])
    daemon = Daemon(program, elector, sleep=lambda seconds: None, stop=stop)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        daemon.install_signal_handlers()
        outcome = daemon.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert outcome == "test-program: stopping"
    assert program.calls == ["promoted", "demoted"]
    assert elector.released

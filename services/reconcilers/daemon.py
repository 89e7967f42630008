"""The one daemon skeleton of both reconcilers: `while not stopping: run_cycle()`.

Each turn checks leadership (`leader`), promotes or demotes the program when that changed,
runs one cycle when leading, logs the cycle's one-line outcome and records metrics. Signal
handlers only set the stopping flag (and wake the sleep): shutdown is warm, the current
cycle finishes, the program is demoted (its threads stopped) and leadership released so a
standby takes over at once. A failing cycle (PostgreSQL, Redis or Kubernetes unreachable)
is logged and retried with exponential backoff; the daemon never exits because of one.

Progress: with a `heartbeat`, every turn and every second of a wait beats (the watchdog in
supervisord restarts a program whose beats stop: frozen, or stuck in one call), and each
leader cycle that succeeds records its time. A leader whose cycles fail, or whose program
says it cannot work (`failing_since`: status-sync with every watch failing), for
`give_up_seconds` releases leadership and stands back as long, so that another instance,
one that can reach the cluster, takes over.

Clock and sleep are injectable so tests drive the loop without wall time. This module knows
nothing about what a program does.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Protocol

from services.reconcilers import metrics
from services.reconcilers.backoff import Backoff

log = logging.getLogger(__name__)

IDLE_SUFFIX = ": idle"
"""A cycle outcome ending with this did nothing (counted as result "idle")."""
STANDBY = "standby"
QUIET_REMINDER_SECONDS = 60.0
"""A quiet outcome (idle, standby) that repeats is logged at DEBUG, and at INFO again only
this often: a standby instance or an idle leader turns every few seconds, and an INFO line
per turn would drown the log of a production pod."""


class Program(Protocol):
    name: str

    def run_cycle(self) -> str:
        """Observe, decide, apply once; return a one-line outcome."""
        ...

    def on_promoted(self) -> None:
        """This instance just became the leader (start watches, reset caches)."""
        ...

    def on_demoted(self) -> None:
        """This instance stopped leading or is shutting down (stop watches)."""
        ...

    def pause(self) -> float:
        """Seconds to wait after a cycle before the next one."""
        ...


class Heartbeat(Protocol):
    leader: bool | None
    gauges: dict[str, dict[str, float]]

    def succeeded(self) -> None: ...

    def beat(self) -> None: ...


class Elector(Protocol):
    def check(self) -> bool: ...

    def release(self) -> None: ...


class Daemon:
    def __init__(
        self,
        program: Program,
        elector: Elector,
        *,
        standby_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        heartbeat: Heartbeat | None = None,
        beat_every: float = 1.0,
        give_up_seconds: float | None = None,
        stand_back_seconds: float = 0.0,
    ) -> None:
        self.program = program
        self.elector = elector
        self.standby_seconds = standby_seconds
        self.heartbeat = heartbeat
        """Beaten after every turn and, while the loop waits, every `beat_every` seconds."""
        self.beat_every = beat_every
        self.give_up_seconds = give_up_seconds
        """A leader failing for this long gives up leadership and stands back as long."""
        self._failing_since: float | None = None
        self._standing_back_until = clock() + stand_back_seconds if stand_back_seconds else 0.0
        """Until then this instance does not contend for leadership: after giving up, or at
        the start of one whose predecessor froze while leading (`stand_back_seconds`)."""
        if hasattr(program, "keepalive"):  # a program that waits inside a step beats there
            program.keepalive = self._beat
        self.clock = clock
        self._wake = stop if stop is not None else threading.Event()
        """Set on a stop request: wakes the sleep, and a program that shares it (status-sync
        waiting for its first lists) ends its wait too."""
        self._stand_back_reason = "predecessor froze while leading; standing back"
        self.sleep = sleep if sleep is not None else self._wake.wait
        self.backoff = backoff or Backoff(initial=1.0, maximum=30.0)
        self.stopping = False
        self.leading = False
        self.outcomes: list[str] = []
        self._last_outcome = ""
        self._next_quiet_info = 0.0

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Signal handler: set the flag and wake the sleep; nothing else."""
        self.stopping = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def step(self) -> tuple[str, float]:
        """One turn: leadership, then a cycle if leading; the outcome and the pause after it."""
        name = self.program.name
        if self.clock() < self._standing_back_until:
            metrics.CYCLES.labels(program=name, result="standby").inc()
            return f"{name}: {STANDBY} ({self._stand_back_reason})", self.standby_seconds
        leading = self.elector.check()
        metrics.LEADER.labels(program=name).set(1 if leading else 0)
        if leading and not self.leading:
            log.info("%s: became the leader", name)
            self.program.on_promoted()
            self.leading = True
            if self.stopping:  # asked to stop while promoting: no cycle, shut down
                return f"{name}: stopping", 0.0
        elif not leading and self.leading:
            log.warning("%s: no longer the leader", name)
            self.leading = False
            self.program.on_demoted()
        if not leading:
            self._failing_since = None
            metrics.CYCLES.labels(program=name, result="standby").inc()
            why = getattr(self.elector, "why_not", None) or "another instance leads"
            return f"{name}: {STANDBY} ({why})", self.standby_seconds
        started = self.clock()
        outcome = self.program.run_cycle()
        metrics.CYCLE_SECONDS.labels(program=name).observe(self.clock() - started)
        result = "idle" if outcome.endswith(IDLE_SUFFIX) else "ok"
        metrics.CYCLES.labels(program=name, result=result).inc()
        self._note_progress(self.program_failing_since())
        return outcome, self.program.pause()

    def program_failing_since(self) -> float | None:
        """Since when the program cannot do its work although its cycles run (status-sync
        whose watches all fail); None when it can, or cannot tell."""
        failing_since = getattr(self.program, "failing_since", None)
        return failing_since() if failing_since is not None else None

    def _note_progress(self, failing_since: float | None) -> None:
        if failing_since is None:
            self._failing_since = None
            if self.heartbeat is not None:
                self.heartbeat.succeeded()
        elif self._failing_since is None or failing_since < self._failing_since:
            self._failing_since = failing_since

    def _give_up_if_failing(self) -> bool:
        """A leader that has failed for `give_up_seconds` releases leadership and stands back
        as long, so that an instance that can work (another pod) takes over. Alone, it takes
        leadership back after that and tries again."""
        if self.give_up_seconds is None or not self.leading or self._failing_since is None:
            return False
        failing_for = self.clock() - self._failing_since
        if failing_for < self.give_up_seconds:
            return False
        name = self.program.name
        log.warning(
            "%s: failing for %.0fs as the leader: giving leadership up for %.0fs",
            name,
            failing_for,
            self.give_up_seconds,
        )
        self.leading = False
        self._failing_since = None
        self._standing_back_until = self.clock() + self.give_up_seconds
        self._stand_back_reason = "gave leadership up; standing back"
        metrics.LEADER.labels(program=name).set(0)
        try:
            self.program.on_demoted()
        finally:
            self.elector.release()
        return True

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.leader = self.leading
            gauges = getattr(self.program, "gauges", None)
            if gauges is not None:  # what the program reports of its last cycle
                self.heartbeat.gauges = gauges()
            self.heartbeat.beat()

    def _wait(self, seconds: float) -> None:
        """Sleep `seconds`, beating every `beat_every` seconds while waiting."""
        if self.heartbeat is None:
            self.sleep(seconds)
            return
        end = self.clock() + seconds
        while not self.stopping:
            left = end - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, self.beat_every))
            self._beat()

    def run(self, *, once: bool = False) -> str:
        """Loop until stopped (or one turn when `once`); return the last outcome."""
        outcome = ""
        self._beat()  # before the first turn, which may wait (a new leader's first lists)
        try:
            while not self.stopping:
                try:
                    outcome, pause = self.step()
                    self.backoff.reset()
                except Exception as error:
                    pause = self.backoff.next_delay()
                    outcome = f"{self.program.name}: error: {type(error).__name__}: {error}"
                    metrics.CYCLES.labels(program=self.program.name, result="error").inc()
                    log.warning("%s (retrying in %.1fs)", outcome, pause, exc_info=True)
                    self._note_progress(self.clock())
                else:
                    self._log(outcome)
                if self._give_up_if_failing():
                    pause = self.standby_seconds  # stand back at the standby's pace
                    self.backoff.reset()
                self._beat()
                self.outcomes.append(outcome)
                del self.outcomes[:-100]
                if once or self.stopping:
                    break
                self._wait(pause)
        finally:
            self.shutdown()
        return outcome

    def shutdown(self) -> None:
        if self.leading:
            self.leading = False
            try:
                self.program.on_demoted()
            finally:
                metrics.LEADER.labels(program=self.program.name).set(0)
        self.elector.release()
        # The last beat says it no longer leads: a successor started after this clean stop
        # has no frozen leader to stand back for (`wiring.stand_back_after_freeze`).
        self._beat()

    def _log(self, outcome: str) -> None:
        quiet = outcome.endswith(IDLE_SUFFIX) or outcome.startswith(
            f"{self.program.name}: {STANDBY} ("
        )
        now = self.clock()
        if quiet and outcome == self._last_outcome and now < self._next_quiet_info:
            log.debug("%s", outcome)
        else:
            log.info("%s", outcome)
            self._next_quiet_info = now + QUIET_REMINDER_SECONDS
        self._last_outcome = outcome

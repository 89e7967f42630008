"""Restarts, from inside supervisord, a program whose heartbeat stopped.

supervisord restarts a program that exits, but not one that is alive and frozen (stopped
with SIGSTOP, deadlocked, stuck in a call without a timeout): it stays RUNNING forever. A
frozen leader also keeps its PostgreSQL session, and with it the advisory lock that makes
it the leader, so no standby can take over. The programs that beat (`heartbeats`: worker,
status-sync, drift) therefore get a watchdog: every 5 s (supervisord's TICK_5 event) it
reads their heartbeat files, and a RUNNING program whose last beat, written by this very
process (same pid), is older than DBAAS_HEARTBEAT_TIMEOUT_SECONDS gets SIGKILL; so does one
that has run three times that long since its start without beating once. Only the programs
named in supervisord.conf ([rpcinterface:dbaas] `programs`) are judged, each process on
its own (`worker-0`, `worker-1`... of program `worker`): the api does not beat. That is an
unexpected exit, so supervisord starts it again (autorestart), and the killed process's
sessions close, which frees a leader's lock at once.

Why here rather than an event-listener program or the launcher: this code already runs in
supervisord's process (`[rpcinterface:dbaas]`, see `fatal`), sees each process's pid and
state without an RPC round trip, and needs no extra program in the contract's list. Like
the FATAL handler it must never raise into supervisord's loop and never block: it reads a
few small files and sends a signal.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor.states import ProcessStates

from services.supervision import heartbeats

STARTUP_GRACE_FACTOR = 3
"""A beating program that has not beaten once since its start gets this many heartbeat
timeouts (30 s by default): its imports and first connections come before its first beat,
and a loaded host must not turn a slow start into a restart loop."""


class Watchdog:
    """Called by supervisord with every TickEvent (TICK_5) of one supervisord run."""

    def __init__(
        self,
        supervisord: Any,
        *,
        home: Path,
        timeout: float,
        beating: frozenset[str],
        clock: Callable[[], float] = time.time,
        kill: Callable[[int, int], None] = os.kill,
    ) -> None:
        self.supervisord = supervisord
        self.home = home
        self.timeout = timeout
        self.beating = beating
        """The programs that beat (supervisord.conf: `programs =` of [rpcinterface:dbaas])."""
        self.startup_grace = STARTUP_GRACE_FACTOR * timeout
        self.clock = clock
        self.kill = kill
        self.restarts: list[str] = []
        """Programs this watchdog killed, in order (tests, and `dbaas.getWatchdogRestarts`)."""

    def __call__(self, event: Any) -> None:
        try:
            self.check()
        except Exception as exc:  # never raise into supervisord (see the module docstring)
            self.supervisord.options.logger.critical("dbaas: watchdog failed: %(exc)r", exc=exc)

    def check(self) -> None:
        now = self.clock()
        for group in list(self.supervisord.process_groups.values()):
            if group.config.name not in self.beating:
                continue  # does not beat (the api)
            for process in list(group.processes.values()):
                # the process's own file: `drift`, or `worker-0` of program `worker`
                name = process.config.name
                if process.get_state() != ProcessStates.RUNNING or not process.pid:
                    continue
                beat = heartbeats.read(self.home, name)
                if beat is not None and beat.pid == process.pid:
                    age, limit = beat.age(now), self.timeout
                else:  # not beaten since this start: still importing, or frozen early
                    age, limit = now - process.laststart, self.startup_grace
                if age <= limit:
                    continue
                self.supervisord.options.logger.warn(
                    "dbaas: program %(name)s (pid %(pid)s) has not beaten for %(age).0f s "
                    "(limit %(limit).0f s): killing it so that it starts again",
                    name=name,
                    pid=process.pid,
                    age=age,
                    limit=limit,
                )
                self.restarts.append(name)
                self.kill(process.pid, signal.SIGKILL)

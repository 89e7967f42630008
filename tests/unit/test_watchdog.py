"""The watchdog's judgement, with supervisord's process objects stood in and a fixed clock."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from supervisor.states import ProcessStates

from services.supervision import heartbeats
from services.supervision.watchdog import Watchdog

NOW = 10_000.0


class Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warn(self, message: str, **values: Any) -> None:
        self.lines.append(message % values)

    def critical(self, message: str, **values: Any) -> None:
        self.lines.append(message % values)


def process(
    name: str,
    pid: int,
    *,
    started: float,
    state: int = ProcessStates.RUNNING,
    group: str | None = None,
) -> Any:
    """A process of program `group` (default: a program of one process, named as it)."""
    return SimpleNamespace(
        config=SimpleNamespace(name=name),
        group=group or name,
        pid=pid,
        laststart=started,
        get_state=lambda: state,
    )


def judge(home: Path, *processes: Any) -> tuple[list[tuple[int, int]], Watchdog]:
    killed: list[tuple[int, int]] = []
    groups: dict[str, Any] = {}
    for p in processes:
        group = groups.setdefault(
            p.group, SimpleNamespace(config=SimpleNamespace(name=p.group), processes={})
        )
        group.processes[p.config.name] = p
    supervisord = SimpleNamespace(
        process_groups=groups,
        options=SimpleNamespace(logger=Logger()),
    )
    dog = Watchdog(
        supervisord,
        home=home,
        timeout=10.0,
        beating=frozenset({"worker", "status-sync", "drift"}),
        clock=lambda: NOW,
        kill=lambda pid, sig: killed.append((pid, sig)),
    )
    dog.check()
    return killed, dog


def test_a_fresh_beat_is_left_alone_and_a_stale_one_is_killed(tmp_path: Path) -> None:
    heartbeats.write(tmp_path, heartbeats.Beat("worker", 11, NOW - 2))
    heartbeats.write(tmp_path, heartbeats.Beat("status-sync", 12, NOW - 11))
    killed, dog = judge(
        tmp_path,
        process("worker", 11, started=NOW - 100),
        process("status-sync", 12, started=NOW - 100),
    )
    assert killed == [(12, signal.SIGKILL)]
    assert dog.restarts == ["status-sync"]


def test_a_program_that_never_beat_since_its_start_gets_a_startup_grace(tmp_path: Path) -> None:
    # a file of the previous process (pid 5) does not count for the new one
    heartbeats.write(tmp_path, heartbeats.Beat("drift", 5, NOW - 500))
    killed, _ = judge(tmp_path, process("drift", 13, started=NOW - 29))
    assert killed == []
    killed, _ = judge(tmp_path, process("drift", 13, started=NOW - 31))
    assert killed == [(13, signal.SIGKILL)]
    killed, _ = judge(tmp_path, process("worker", 14, started=NOW - 31))  # no file at all
    assert killed == [(14, signal.SIGKILL)]


def test_programs_that_do_not_beat_or_do_not_run_are_never_judged(tmp_path: Path) -> None:
    heartbeats.write(tmp_path, heartbeats.Beat("worker", 15, NOW - 500))
    killed, _ = judge(
        tmp_path,
        process("api", 16, started=NOW - 500),
        process("worker", 15, started=NOW - 500, state=ProcessStates.STOPPING),
    )
    assert killed == []


def test_each_worker_process_is_judged_by_its_own_beat(tmp_path: Path) -> None:
    # numprocs: program `worker`, processes worker-0 and worker-1, one heartbeat file each
    heartbeats.write(tmp_path, heartbeats.Beat("worker-0", 21, NOW - 1))
    heartbeats.write(tmp_path, heartbeats.Beat("worker-1", 22, NOW - 40))
    killed, dog = judge(
        tmp_path,
        process("worker-0", 21, started=NOW - 100, group="worker"),
        process("worker-1", 22, started=NOW - 100, group="worker"),
    )
    assert killed == [(22, signal.SIGKILL)]
    assert dog.restarts == ["worker-1"]

"""Heartbeats: each long-running program says, in a small file, that it is still turning.

`$DBAAS_HOME/heartbeats/<program>.json`, replaced atomically (write, then rename) on every
beat, holds the beat's time, the writer's pid, and what the program reports about itself:
whether it leads, when its last cycle succeeded, and its counters (Kubernetes requests,
drift findings). One file per program in the pod's own runtime directory, because every
reader is in the same pod and some cannot use PostgreSQL:
- supervisord's watchdog (`watchdog`, inside supervisord, where no database client may be
  loaded) kills a program whose heartbeat stopped, and supervisord starts it again;
- the API's /readyz reports a program that is up but not progressing, and its /metrics
  reads leadership, last successes and counters from here, whichever API worker answers;
- `dbaas health <program>` is the exec probe of the split overlay's containers.

A beat is a file write of a few hundred bytes; programs beat about once a second. This
module never decides anything; it writes and reads the files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DIRECTORY = "heartbeats"


@dataclasses.dataclass(frozen=True)
class Beat:
    program: str
    pid: int
    at: float
    """Unix time of the beat."""
    leader: bool | None = None
    """For a leader-elected program: whether this instance leads; None otherwise."""
    last_success: float | None = None
    """Unix time the program's last cycle (or job) succeeded; None before the first."""
    counters: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """Counter families by name, each {label value: count} (e.g. kube_requests "get 200")."""
    gauges: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """Gauge families by name, each {label value: value} (e.g. drift_findings by kind)."""

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.at


def directory(home: Path) -> Path:
    return home / DIRECTORY


def path_of(home: Path, program: str) -> Path:
    return directory(home) / f"{program}.json"


def write(home: Path, beat: Beat) -> None:
    """Replace the program's heartbeat file (atomic: a reader sees the old or the new)."""
    folder = directory(home)
    folder.mkdir(parents=True, exist_ok=True)
    document = dataclasses.asdict(beat)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{beat.program}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
        os.replace(temporary, path_of(home, beat.program))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read(home: Path, program: str) -> Beat | None:
    """The program's last beat, or None when it never beat (or the file is unreadable)."""
    try:
        document: dict[str, Any] = json.loads(path_of(home, program).read_text("utf-8"))
        return Beat(**document)
    except (OSError, ValueError, TypeError):
        return None


def clear(home: Path) -> None:
    """Remove every heartbeat file (the pod's launcher, before any program starts)."""
    folder = directory(home)
    if folder.is_dir():
        for entry in folder.glob("*.json"):
            entry.unlink(missing_ok=True)


def of_program(home: Path, program: str) -> dict[str, Beat]:
    """The beats of `program`'s processes by process name: `worker` alone (one process, as
    the split overlay's container runs it) or `worker-0`, `worker-1`... (supervisord's
    `numprocs`, process_name `<program>-<n>`)."""
    found = {}
    single = read(home, program)
    if single is not None:
        found[program] = single
    folder = directory(home)
    if folder.is_dir():
        for entry in folder.glob(f"{program}-*.json"):
            suffix = entry.stem[len(program) + 1 :]
            beat = read(home, entry.stem) if suffix.isdigit() else None
            if beat is not None:
                found[entry.stem] = beat
    return found


def read_all(home: Path) -> dict[str, Beat]:
    beats: dict[str, Beat] = {}
    folder = directory(home)
    if not folder.is_dir():
        return beats
    for entry in folder.glob("*.json"):
        beat = read(home, entry.stem)
        if beat is not None:
            beats[beat.program] = beat
    return beats


Counters = Callable[[], dict[str, dict[str, float]]]


class Heartbeater:
    """What one program process beats: set `leader`, `last_success`, `gauges` as they
    change, call `beat()` as the loop turns."""

    def __init__(
        self,
        home: Path,
        program: str,
        *,
        counters: Counters | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.program = program
        self.counters = counters
        self.clock = clock
        self.leader: bool | None = None
        self.last_success: float | None = None
        self.gauges: dict[str, dict[str, float]] = {}
        self._failed_once = False

    def succeeded(self) -> None:
        self.last_success = self.clock()

    def beat(self) -> None:
        """Write the heartbeat; a failure to write is logged once and never raised."""
        beat = Beat(
            program=self.program,
            pid=os.getpid(),
            at=self.clock(),
            leader=self.leader,
            last_success=self.last_success,
            counters=self.counters() if self.counters else {},
            gauges=dict(self.gauges),
        )
        try:
            write(self.home, beat)
        except OSError as exc:
            if not self._failed_once:
                log.warning("%s: cannot write its heartbeat: %s", self.program, exc)
                self._failed_once = True

"""The launcher's first step: apply pending migrations before any program starts.

So that a plain `docker run` of the image works on an empty database. The migration runs
as a child process (`dbaas migrate --no-create`), never in the launcher itself: psycopg
would load libpq and OpenSSL into PID 1 for the pod's whole life (supervise.keep_tls_out).
Several pods starting at once are safe: the migrator holds an advisory lock for its whole
run (store/migrating.py), so the second one waits, then finds nothing left to apply.
`--no-create`: creating a database is an administrator's decision, not a pod's.

Bounded: while it fails (PostgreSQL unreachable, say) it retries with backoff for up to
DBAAS_MIGRATE_WAIT_SECONDS, then lets the programs start anyway. They wait for or report
the outage as they would without this step, and /readyz answers 503 while the schema is
behind the code, so the pod is never ready on a schema it cannot use. DBAAS_MIGRATE_ON_START
=false turns the step off where an init container or a release job migrates.
"""

from __future__ import annotations

import enum
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from services.settings import Settings

FIRST_DELAY, MAX_DELAY = 0.5, 5.0
COMMAND = (sys.executable, "-m", "services.cli", "migrate", "--no-create")


class Outcome(enum.Enum):
    APPLIED = "applied"
    """Every migration is applied (or there was nothing to apply)."""
    GAVE_UP = "gave-up"
    """Still failing after the wait: the programs start anyway."""
    STOPPED = "stopped"
    """SIGTERM or SIGINT arrived first: nothing else should start."""
    DISABLED = "disabled"


def say(message: str) -> None:
    print(f"supervise: {message}", file=sys.stderr, flush=True)


def migrate_before_start(
    config: Settings,
    *,
    command: tuple[str, ...] = COMMAND,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    if not config.migrate_on_start:
        return Outcome.DISABLED
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # PID 1 ignores a signal it has no handler for: without these, SIGTERM would be lost
    # until supervisord installs its own.
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        return _run_until_applied(config, command=command, clock=clock, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_until_applied(
    config: Settings,
    *,
    command: tuple[str, ...],
    clock: Callable[[], float],
    stop: threading.Event,
) -> Outcome:
    deadline = clock() + config.migrate_wait_seconds
    delay = FIRST_DELAY
    attempt = 0
    while not stop.is_set():
        attempt += 1
        child = subprocess.Popen(command)
        while child.poll() is None:
            if stop.wait(0.1):
                child.terminate()
                child.wait()
                say("stop requested during the migration: not starting the programs")
                return Outcome.STOPPED
        if child.returncode == 0:
            return Outcome.APPLIED
        if clock() + delay > deadline:
            say(
                f"migration failed {attempt} time(s) within {config.migrate_wait_seconds:g}s; "
                "starting the programs anyway (/readyz stays 503 while the schema is behind)"
            )
            return Outcome.GAVE_UP
        say(f"migration failed (exit {child.returncode}); retrying in {delay:.1f}s")
        stop.wait(delay)
        delay = min(MAX_DELAY, delay * 2)
    say("stop requested during the migration: not starting the programs")
    return Outcome.STOPPED

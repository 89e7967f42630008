"""Event listener that ends supervisord when any program goes FATAL.

A FATAL program stays down inside a pod that still looks alive, so the listener makes the
whole pod fail instead and lets Kubernetes restart it: it records the reason (see
`marker`), sends SIGTERM to supervisord, its parent, which stops every program in order, and
the launcher (`supervise`) exits non-zero. It never restarts programs itself and never
writes anything but the protocol to stdout.

Run by supervisord as `python -m services.supervision.fatal_listener`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from services.settings import Settings
from services.supervision import marker, protocol

log = logging.getLogger(__name__)

FATAL = "PROCESS_STATE_FATAL"


def handle(
    event: protocol.Event,
    *,
    home: Path,
    supervisord_pid: int,
    kill: Callable[[int, int], None] = os.kill,
) -> str:
    """React to one event; return what was done, for the log."""
    if event.name != FATAL:
        return f"ignored {event.name}"
    program = event.payload.get("processname", "?")
    reason = f"program {program} went FATAL (from {event.payload.get('from_state', '?')})"
    if marker.read(home) is None:  # the first FATAL is the cause; keep it
        try:
            marker.record(home, reason)
        except OSError as exc:
            log.error("cannot record %s in %s: %s", reason, home, exc)
    kill(supervisord_pid, signal.SIGTERM)
    return f"{reason}: sent SIGTERM to supervisord {supervisord_pid}"


def listen(
    stdin: BinaryIO,
    stdout: BinaryIO,
    *,
    home: Path,
    supervisord_pid: int,
    kill: Callable[[int, int], None] = os.kill,
) -> None:
    """Serve events until supervisord closes our stdin."""
    while True:
        event = protocol.wait(stdin, stdout)
        if event is None:
            return
        log.warning("%s", handle(event, home=home, supervisord_pid=supervisord_pid, kill=kill))
        protocol.answer(stdout)


def main() -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s fatal-listener %(levelname)s %(message)s",
    )
    # supervisord stops the listener last, with SIGTERM: a clean exit, not a kill
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    home = Settings.from_env().home
    listen(sys.stdin.buffer, sys.stdout.buffer, home=home, supervisord_pid=os.getppid())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`dbaas health PROGRAM`: exit 0 when PROGRAM has beaten within the heartbeat timeout.

The exec probe of the split overlay's worker, status-sync and drift containers, which serve
no HTTP: they beat into `$DBAAS_HOME/heartbeats/` (an emptyDir the pod's containers share),
and this reads the file. It imports no client library: a probe runs every few seconds.
`dbaas health worker` in the single pod checks every worker process (`worker-0.json`,
`worker-1.json`...: DBAAS_WORKER_PROCESSES); each must have beaten.
"""

from __future__ import annotations

import argparse
import sys

from services.settings import Settings
from services.supervision import heartbeats


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", help="the program whose heartbeat to check (worker, ...)")


def run(args: argparse.Namespace) -> int:
    config = Settings.from_env()
    beats = heartbeats.of_program(config.home, args.program)
    if not beats:
        print(f"{args.program}: no heartbeat yet", file=sys.stderr)
        return 1
    failed = False
    for name, beat in sorted(beats.items()):
        age = beat.age()
        if age > config.heartbeat_timeout_seconds:
            print(
                f"{name}: last heartbeat {age:.0f}s ago (limit "
                f"{config.heartbeat_timeout_seconds:g}s)",
                file=sys.stderr,
            )
            failed = True
            continue
        leader = "" if beat.leader is None else (" leader" if beat.leader else " standby")
        print(f"{name}: beating (pid {beat.pid}, {age:.1f}s ago){leader}")
    return 1 if failed else 0

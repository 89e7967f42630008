"""The shared body of the `dbaas status-sync` and `dbaas drift` commands."""

from __future__ import annotations

import argparse

from services.reconcilers import metrics, wiring
from services.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="also serve this process's own Prometheus registry on this port (0 = off, the "
        "default; the pod's series are on the API's /metrics)",
    )
    parser.add_argument(
        "--standby-seconds",
        type=float,
        default=2.0,
        help="how often a standby instance tries to become the leader (default %(default)s)",
    )
    parser.add_argument(
        "--watch-timeout",
        type=int,
        default=8,
        help="server-side timeout of one watch request, seconds (default %(default)s)",
    )


def run(program: str, args: argparse.Namespace) -> int:
    config = Settings.from_env()
    port = args.metrics_port  # a flag per process, never a pod-wide setting: see metrics.py
    process = wiring.build(
        program, config, watch_timeout=args.watch_timeout, standby_seconds=args.standby_seconds
    )
    stop_metrics = metrics.serve(port)
    try:
        process.daemon.install_signal_handlers()
        outcome = process.daemon.run(once=args.once)
    finally:
        process.close()
        if stop_metrics is not None:
            stop_metrics()
    if args.once:
        print(outcome)
    return 0

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
        default=None,
        help="serve Prometheus /metrics on this port (default: DBAAS_METRICS_PORT; 0 = off)",
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
    port = config.metrics_port if args.metrics_port is None else args.metrics_port
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

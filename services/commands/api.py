"""`dbaas api`: serve the REST API with Hypercorn (the supervisord program `api`).

Hypercorn is configured programmatically and runs as a master process with
`DBAAS_API_WORKERS` worker processes sharing one listening socket. On SIGTERM (or SIGINT)
the master sets a shared shutdown event; each worker stops accepting connections, lets the
requests in flight finish for up to `--graceful-timeout` seconds, runs the app's lifespan
shutdown (closing its pool) and exits; then the master exits. So supervisord must signal
the master only (the default: no `stopasgroup`), and its `stopwaitsecs` must exceed the
graceful timeout.

Workers are spawned, not forked: each imports the app afresh through `worker_app`, with
prometheus_client in multiprocess mode over a directory wiped at every start (see
`services.api.metrics`).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from hypercorn.config import Config
from hypercorn.run import run as hypercorn_run
from starlette.applications import Starlette

from services import cli
from services.settings import Settings

GRACEFUL_TIMEOUT_SECONDS = 8.0  # below supervisord stopwaitsecs (10) for [program:api]
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client itself, at import


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=GRACEFUL_TIMEOUT_SECONDS,
        help="seconds requests in flight may take to finish after SIGTERM (default %(default)s)",
    )


def metrics_dir(config: Settings) -> Path:
    return config.home / "metrics" / "api"


def hypercorn_config(config: Settings, *, directory: Path, graceful_timeout: float) -> Config:
    hyper = Config()
    hyper.bind = [f"{config.api_host}:{config.api_port}"]
    hyper.workers = max(1, config.api_workers)
    hyper.application_path = f"services.commands.api:worker_app({str(directory)!r})"
    hyper.graceful_timeout = graceful_timeout
    hyper.accesslog = None  # the app logs one line per request itself (without secrets)
    hyper.errorlog = logging.getLogger("hypercorn.error")  # into our own log format
    hyper.keep_alive_timeout = 30
    return hyper


def run(args: argparse.Namespace) -> int:
    config = Settings.from_env()
    directory = metrics_dir(config)
    shutil.rmtree(directory, ignore_errors=True)  # samples of a previous run must not add up
    directory.mkdir(parents=True)
    # Writing (not reading) the environment: spawned workers inherit it, and prometheus_client
    # picks its multiprocess value class when it is first imported there.
    os.environ[METRICS_ENV] = str(directory)
    hyper = hypercorn_config(config, directory=directory, graceful_timeout=args.graceful_timeout)
    return hypercorn_run(hyper)


def worker_app(directory: str) -> Starlette:
    """The app of one Hypercorn worker process (named in `application_path`)."""
    from services.api.app import create_app

    config = Settings.from_env()
    cli.configure_logging(config)
    return create_app(config, metrics_dir=Path(directory))

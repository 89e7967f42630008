"""`dbaas worker`: the RQ worker that carries out operations (supervisord program `worker`).

Runs jobs in-process (rq `SimpleWorker`) by default: the PostgreSQL pool and the Kubernetes
client stay warm across jobs, which is several times faster than forking a work horse per
job (`--fork`, rq `Worker`, which must rebuild both in every horse). RQ's job timeout still
works in-process: its death penalty is SIGALRM in the main thread.

Never exits because a dependency is down: it waits for PostgreSQL and Redis with backoff at
startup, and starts a new RQ worker when the old one quit on a Redis error, so supervisord
does not mark the program FATAL. SIGTERM (or SIGINT) is a warm shutdown: the current job
finishes, then the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import redis
from rq import SimpleWorker, Worker

from services.clients import postgres, queue
from services.settings import Settings
from services.worker import context, jobs

log = logging.getLogger(__name__)

FIRST_DELAY, MAX_DELAY = 0.5, 15.0


class _StopAware:
    """Remembers that a stop was asked for, so a stop is told apart from a Redis failure."""

    stop_requested = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[misc]


class InProcessWorker(_StopAware, SimpleWorker):
    pass


class ForkingWorker(_StopAware, Worker):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--burst", action="store_true", help="process what is queued, then exit (for tests)"
    )
    parser.add_argument(
        "--fork",
        action="store_true",
        help="fork a work horse per job (rq Worker) instead of running jobs in-process",
    )


def worker_name(config: Settings) -> str:
    return config.worker_name or f"{socket.gethostname()}-{os.getpid()}"


def wait_for(
    what: str, check: Callable[[], object], *, stop: threading.Event, max_delay: float = MAX_DELAY
) -> bool:
    """Call `check` until it passes (True) or `stop` is set (False), backing off between."""
    delay = FIRST_DELAY
    while not stop.is_set():
        try:
            check()
        except Exception as exc:
            log.warning("worker: %s unavailable (%s); retrying in %.1fs", what, exc, delay)
            stop.wait(delay)
            delay = min(max_delay, delay * 2)
        else:
            return True
    return False


def _check_postgres(url: str) -> None:
    with postgres.connect(url) as conn:
        conn.execute("SELECT 1 FROM operations LIMIT 1")


def _clear_stale_registration(worker: Worker) -> None:
    """A live-looking registration of our own name is a dead predecessor (same host and pid
    after a container restart); RQ would refuse to start until it expires."""
    if worker.connection.exists(worker.key) and not worker.connection.hexists(worker.key, "death"):
        log.warning("worker %s: removing the stale registration of a previous process", worker.name)
        worker.register_death()  # type: ignore[no-untyped-call]


def run(args: argparse.Namespace) -> int:
    config = Settings.from_env()
    name = worker_name(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("worker %s: %s received, stopping", name, signal.Signals(signum).name)
        stop.set()

    def install_handlers() -> None:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    install_handlers()
    connection = queue.connect(config.redis_url)
    if not (
        wait_for("PostgreSQL", lambda: _check_postgres(config.database_url), stop=stop)
        and wait_for("Redis", connection.ping, stop=stop)
    ):
        return 0
    jobs.configure(lambda: context.build(config, worker_name=name))
    if not args.fork:
        jobs.current_context()  # build now: a broken kubeconfig shows at startup, not per job
    worker_class: Any = ForkingWorker if args.fork else InProcessWorker
    operation_queue = queue.operation_queue(connection, config.queue_name)
    delay = FIRST_DELAY
    while not stop.is_set():
        worker = worker_class([operation_queue], connection=connection, name=name)
        started = time.monotonic()
        try:
            _clear_stale_registration(worker)
            worker.work(burst=args.burst, logging_level=config.log_level.upper())
        except redis.exceptions.RedisError as exc:
            log.warning("worker %s: Redis error (%s)", name, exc)
        install_handlers()  # RQ's handlers belong to the worker that just quit
        if worker.stop_requested or args.burst:
            break
        if time.monotonic() - started > 60:
            delay = FIRST_DELAY
        log.warning("worker %s: RQ worker quit; starting again in %.1fs", name, delay)
        stop.wait(delay)
        delay = min(MAX_DELAY, delay * 2)
        wait_for("Redis", connection.ping, stop=stop)
    jobs.shutdown()
    log.info("worker %s: stopped", name)
    return 0

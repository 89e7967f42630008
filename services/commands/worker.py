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

from rq import SimpleWorker, Worker  # the one rq import outside clients: see queue.py

from services.clients import kube, postgres, queue
from services.settings import Settings
from services.store import heartbeats as stored_heartbeats
from services.supervision import heartbeats
from services.worker import context, jobs

log = logging.getLogger(__name__)

FIRST_DELAY, MAX_DELAY = 0.5, 15.0


class _StopAware:
    """Remembers that a stop was asked for, so a stop is told apart from a Redis failure."""

    stop_requested = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[misc]


PUBSUB_POLL_SECONDS = 1.0
"""Longest single wait of RQ's pubsub thread (its command channel: `rq` stop-job commands).
RQ waits 60 s there, and on a stop it joins that thread without a bound: when the thread has
already read the UNSUBSCRIBE reply it sits in redis-py's `subscribed_event.wait(60)`, and
SIGTERM hung until supervisord's SIGKILL (2 of 20 idle stops, rq 3.0 with redis 8.2)."""
PUBSUB_STOP_SECONDS = 2.0
"""How long a stop waits for the pubsub thread (one poll and a margin); it is a daemon
thread, so one that is still inside a read does not hold the process."""


class _BoundedPubSub:
    """RQ's subscribe/unsubscribe with a short poll and a bounded join, so a stop takes at
    most PUBSUB_STOP_SECONDS for the pubsub thread, whatever it is doing."""

    def subscribe(self: Any) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )
        self.pubsub_thread.name = f"rq-pubsub-{self.name}"

    def unsubscribe(self: Any) -> None:
        thread = self.pubsub_thread
        if thread is None:
            return
        # No UNSUBSCRIBE first (RQ's order): its reply is what let the thread fall into the
        # long wait. Clearing the flag ends the loop after the current poll, and the loop
        # closes the pubsub connection itself.
        thread.stop(timeout=PUBSUB_STOP_SECONDS)
        if thread.is_alive():
            log.warning("worker %s: pubsub thread still busy; leaving it behind", self.name)
        self.pubsub_thread = None


class InProcessWorker(_BoundedPubSub, _StopAware, SimpleWorker):
    pass


class ForkingWorker(_BoundedPubSub, _StopAware, Worker):
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


class _StoredBeat:
    """The worker's heartbeat row, on a connection of its own (reopened after a failure)."""

    def __init__(self, database_url: str, name: str) -> None:
        self.database_url = database_url
        self.name = name
        self._conn: postgres.Connection | None = None

    def __call__(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = postgres.connect(self.database_url, autocommit=True)
            stored_heartbeats.beat(self._conn, self.name)
        except Exception as exc:  # PostgreSQL away: the next beat tries again
            log.debug("worker %s: heartbeat row not written: %s", self.name, exc)
            self.close()

    def forget(self) -> None:
        try:
            with postgres.connect(self.database_url, autocommit=True) as conn:
                stored_heartbeats.forget(conn, self.name)
        except Exception as exc:
            log.debug("worker %s: heartbeat row not removed: %s", self.name, exc)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class WorkerHeartbeat:
    """Beats from a thread: the file supervisord's watchdog and the probes read, and the row
    status-sync reads to hand a dead worker's operations over (`store.heartbeats`). A thread,
    because a job runs in the main thread for as long as its step takes; a killed or frozen
    (SIGSTOP) process stops every thread."""

    def __init__(self, config: Settings, name: str) -> None:
        program = config.program if config.program != Settings.program else "worker"
        self.interval = config.heartbeat_interval_seconds
        self.file = heartbeats.Heartbeater(
            config.home, program, counters=lambda: {"kube_requests": kube.request_counts()}
        )
        self.row = _StoredBeat(config.database_url, name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{program}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the row: a worker that stopped cleanly holds nothing."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.row.forget()

    def _loop(self) -> None:
        while True:
            self.file.beat()
            self.row()
            if self._stop.wait(self.interval):
                self.row.close()
                return


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
    heartbeat = WorkerHeartbeat(config, name)
    heartbeat.start()
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
        except queue.QueueError as exc:
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
    heartbeat.stop()
    log.info("worker %s: stopped", name)
    return 0

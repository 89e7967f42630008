"""`dbaas api`: serve the REST API with Hypercorn (the supervisord program `api`).

With `DBAAS_API_WORKERS=1` (the default: the pod targets half a CPU) the program is ONE
process: Hypercorn's asyncio worker runs in it, no master, no fork. Hypercorn's own
SIGTERM/SIGINT handlers set its shutdown event; it stops accepting, lets the requests in
flight finish for up to `--graceful-timeout` seconds, runs the app's lifespan shutdown
(closing its pool), and the process exits 0; supervisord's `stopwaitsecs` bounds the whole.

More workers are the scaling knob. With `DBAAS_API_WORKERS` >= 2 a master process binds
the port and forks that many Hypercorn asyncio workers that share the socket. On SIGTERM
(or SIGINT) the master sets a shared shutdown event; each worker drains as above and
exits; the master waits for ALL of them, then exits 0. So supervisord must signal the
master only (no `stopasgroup`), and its `stopwaitsecs` must exceed the graceful timeout.

Why our own master loop and not `hypercorn.run.run`: Hypercorn's master terminates the
remaining workers as soon as the FIRST one exits, so an idle worker finishing its
shutdown first kills a busy worker's requests in flight. Here each worker is given the
whole graceful timeout; only one still alive after it (plus a margin) is terminated.
A worker that dies on its own while serving (non-zero exit) stops the program with exit 1
so supervisord restarts it whole.

Workers are forked from a master that imports next to nothing: Hypercorn's config, never
the app, psycopg, Kubernetes, Starlette or prometheus_client (a test checks). So each
worker still imports the app afresh through `worker_app`, after the master has pointed
prometheus_client's multiprocess mode at a directory wiped at every start (see
`services.api.metrics`), while the interpreter's own pages stay shared between the master
and the workers, and no multiprocessing resource-tracker process is needed (spawning one
would cost the pod memory: bench/README.md). The master runs no thread, which is what makes
forking safe.
The single process loads the app the same way, after the same directory handling.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import threading
from multiprocessing.connection import wait
from multiprocessing.context import ForkContext
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from hypercorn.config import Config, Sockets

from services import cli
from services.settings import Settings

if TYPE_CHECKING:  # the master never imports the app's modules (see the docstring)
    from starlette.applications import Starlette

log = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_SECONDS = 8.0  # below supervisord's stopwaitsecs (10) for [program:api]
EXIT_MARGIN_SECONDS = 1.5  # lifespan shutdown after the drain, before a worker is terminated
LISTEN_BACKLOG = 1024  # Hypercorn's 100 resets connections of a burst before accept() runs
CONNECTION_IDLE_SECONDS = 60
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
    # A connection that sends nothing for this long is closed, whatever it is in the middle
    # of (headers, a body, idling between requests); a body that keeps trickling is cut by
    # the app's own deadline (DBAAS_BODY_TIMEOUT_SECONDS). No request takes this long.
    hyper.read_timeout = CONNECTION_IDLE_SECONDS
    hyper.backlog = LISTEN_BACKLOG
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
    if hyper.workers == 1:
        return serve_alone(hyper)
    return serve(hyper)


def serve_alone(hyper: Config) -> int:
    """One process: Hypercorn's asyncio worker right here, no master, no fork."""
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import load_application

    # Installed before the app's import, so a signal during startup drains (nothing yet)
    # and exits 0 too. A threading.Event: its is_set() takes no lock, so the handler can
    # set it while the loop below is polling it (a multiprocessing Event could deadlock).
    shutdown = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        shutdown.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    async def stopped() -> None:  # Hypercorn's shutdown trigger, as its workers poll theirs
        while not shutdown.is_set():
            await asyncio.sleep(0.1)

    sockets = hyper.create_sockets()  # bound before the app's import: a busy port fails fast
    try:
        app = load_application(hyper.application_path, hyper.wsgi_max_body_size)
        asyncio.run(worker_serve(app, hyper, sockets=sockets, shutdown_trigger=stopped))
    finally:
        for sock in sockets.insecure_sockets + sockets.secure_sockets:
            sock.close()
    return 0


def serve(hyper: Config) -> int:
    """The master: fork the workers, wait for a signal, let every worker drain, exit."""
    context = multiprocessing.get_context("fork")
    shutdown = context.Event()
    sockets = hyper.create_sockets()
    stopping = False
    gc.freeze()  # what the master holds stays shared: no worker's collector writes to it

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        shutdown.set()

    # Workers inherit "ignore SIGINT" (a terminal's Ctrl-C reaches the whole group): only the
    # master decides when they stop. SIGTERM gets its default back in them (`_work`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    workers = [_spawn(context, hyper, sockets, shutdown, index) for index in range(hyper.workers)]
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    while not stopping:
        wait([worker.sentinel for worker in workers], timeout=1.0)
        for index, worker in enumerate(workers):
            if worker.exitcode is None or stopping:
                continue
            if worker.exitcode != 0:
                log.error("api worker %s exited with %s: stopping", worker.pid, worker.exitcode)
                exit_code, stopping = 1, True
                shutdown.set()
                break
            log.warning("api worker %s exited: starting another", worker.pid)
            workers[index] = _spawn(context, hyper, sockets, shutdown, index)
    _drain(workers, timeout=hyper.graceful_timeout + EXIT_MARGIN_SECONDS)
    for sock in sockets.insecure_sockets + sockets.secure_sockets:
        sock.close()
    return exit_code


def _spawn(
    context: ForkContext,
    hyper: Config,
    sockets: Sockets,
    shutdown: Event,
    index: int,
) -> BaseProcess:
    process = context.Process(
        target=_work,
        kwargs={"hyper": hyper, "sockets": sockets, "shutdown": shutdown},
        name=f"api-worker-{index}",
    )
    process.start()
    return process


def _work(hyper: Config, sockets: Sockets, shutdown: Event) -> None:
    """A worker process: Hypercorn's asyncio worker, which loads the app (`worker_app`)."""
    # A worker forked after the master installed its handlers must not run them: SIGTERM
    # ends a worker at once, SIGINT is the master's to act on.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from hypercorn.asyncio.run import asyncio_worker

    master = os.getppid()
    threading.Thread(
        target=_follow_master, args=(master, shutdown), name="api-master-watch", daemon=True
    ).start()
    asyncio_worker(hyper, sockets, shutdown)


def _follow_master(master: int, shutdown: Event) -> None:
    """A worker whose master died (kill -9, the OOM killer) drains and exits like on SIGTERM,
    instead of serving on beside the next master on the shared SO_REUSEPORT socket."""
    while not shutdown.wait(1.0):
        if os.getppid() != master:
            shutdown.set()
            return


def _drain(workers: list[BaseProcess], *, timeout: float) -> None:
    """Give every worker the whole graceful timeout; terminate only the ones still alive."""
    for worker in workers:
        worker.join(timeout)  # they drain in parallel, so later joins return at once
    for worker in workers:
        if worker.is_alive():
            log.warning("api worker %s still running after %.1fs: terminating", worker.pid, timeout)
            worker.terminate()
            worker.join()


def worker_app(directory: str) -> Starlette:
    """The app of one Hypercorn worker process (named in `application_path`)."""
    from services.api.app import create_app

    config = Settings.from_env()
    cli.configure_logging(config)
    return create_app(config, metrics_dir=Path(directory))

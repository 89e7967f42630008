"""What a worker process needs to run operation jobs, built once per process.

The RQ job function gets nothing but an operation id, so the clients it uses (a PostgreSQL
pool, the Kubernetes client, the queue for dispatching the next operation) live in one
`Context` per process. Tests build their own and inject it, with a fake sleep and random
source. A context must never cross a fork: psycopg pools and HTTP connection pools are not
fork-safe, so `jobs` builds a new one in a forked work horse.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from services.clients import kube, postgres, queue
from services.clients.postgres import Connection
from services.settings import Settings
from services.worker.retrying import RetryPolicy


def _nothing() -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Context:
    connect: Callable[[], AbstractContextManager[Connection]]
    """A connection for one step, idle (no transaction open) when handed out; committed when
    the block exits without error. `jobs` switches it to autocommit for the step."""
    cluster: kube.KubeClient
    queue: queue.Queue
    """Where the next operation of a database is enqueued."""
    worker_name: str
    """Names the lease owner and the events: unique per process."""
    lease_seconds: float
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    close: Callable[[], None] = _nothing
    namespaces: set[str] = dataclasses.field(default_factory=set)
    """Namespaces this process has ensured: a create in one of them skips the ensure call
    (`applying` ensures again when the create answers 404, the namespace having gone)."""


def build(settings: Settings, *, worker_name: str) -> Context:
    """Open the process's clients from settings (the pool connects in the background).

    The pool does not ping a connection on checkout (a round trip per step): a connection
    that died meanwhile (PostgreSQL restarted) fails its first call, and `jobs` runs that
    step again on a new connection.
    """
    pool = postgres.create_pool(
        settings.database_url,
        name=f"worker-{worker_name}",
        max_size=2,
        check_on_checkout=False,
    )
    cluster = kube.KubeClient(kube.load_api_client(settings.kubeconfig))
    redis_conn = queue.connect(settings.redis_url)

    def close() -> None:
        pool.close()
        cluster.close()
        redis_conn.close()

    return Context(
        connect=pool.connection,
        cluster=cluster,
        queue=queue.operation_queue(redis_conn, settings.queue_name),
        worker_name=worker_name,
        lease_seconds=settings.operation_lease_seconds,
        close=close,
    )

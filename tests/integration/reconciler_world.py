"""The world of a reconciler integration test: real PostgreSQL, Redis and simulated cluster,
the real worker's job run in-process, and status-sync / drift driven cycle by cycle.

No tests here. Use cases write rows as the API does (`control`), `work()` runs the worker's
job for queued operations, `cycle_until` turns status-sync's crank until a condition holds.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import redis
from psycopg_pool import ConnectionPool
from rq import Queue

from services.clients import kube, postgres
from services.clients import queue as queue_client
from services.clients.postgres import Connection
from services.control import databases as control
from services.domain import versions
from services.domain.records import DatabaseRecord, OperationRecord, Principal
from services.domain.specs import DatabaseSpec
from services.reconcilers.drift.loop import DriftDetector
from services.reconcilers.status_sync.loop import StatusSync, SyncConfig
from services.sim import catalog as sim_catalog
from services.store import databases, operations, projects
from services.worker import context, jobs
from services.worker.retrying import RetryPolicy
from tests.fixtures_sim import SimCluster
from tests.integration.reconciler_rows import principal_for

PROJECT = "acme"
NAMESPACE = projects.namespace_for(PROJECT)
QUEUE = "test-reconcilers"
T = TypeVar("T")

Catalog = Mapping[str, Sequence[versions.CatalogVersion]]


def load_catalog() -> Catalog:
    by_engine: dict[str, list[versions.CatalogVersion]] = {}
    for obj in sim_catalog.catalog_objects():
        parsed = versions.parse_catalog_object(obj)
        by_engine.setdefault(parsed.engine, []).append(parsed)
    return by_engine


class World:
    def __init__(
        self, database_url: str, redis_url: str, sim: SimCluster, config: SyncConfig
    ) -> None:
        self.database_url = database_url
        self.sim = sim
        self.pool: ConnectionPool[Connection] = postgres.create_pool(
            database_url, name="test-reconcilers", max_size=4
        )
        self.pool.wait(timeout=10)
        # The worker is another process in production: its own pool, its own sessions.
        self.worker_pool: ConnectionPool[Connection] = postgres.create_pool(
            database_url, name="test-worker", max_size=2
        )
        self.redis = redis.Redis.from_url(redis_url)
        self.queue: Queue = queue_client.operation_queue(self.redis, QUEUE)
        self.cluster = kube.KubeClient(sim.api_client())
        self.worker = context.Context(
            connect=self.worker_pool.connection,
            cluster=self.cluster,
            queue=self.queue,
            worker_name="test-worker",
            lease_seconds=60,
            retry=RetryPolicy(),
            sleep=lambda seconds: None,
        )
        self.sync = StatusSync(
            pool=self.pool, cluster=self.cluster, queue=self.queue, config=config
        )
        self.drift = DriftDetector(
            pool=self.pool, cluster=self.cluster, queue=self.queue, interval_seconds=60
        )
        self.catalog = load_catalog()
        self.outcomes: list[str] = []
        with self.connect() as conn:
            self.principal: Principal = principal_for(conn, PROJECT)

    def close(self) -> None:
        self.sync.on_demoted()
        self.pool.close()
        self.worker_pool.close()
        self.redis.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.pool.connection() as conn:
            conn.autocommit = True
            yield conn

    # -- the API side, as use cases --------------------------------------------------------

    def create(self, name: str = "orders", **overrides: Any) -> DatabaseRecord:
        values: dict[str, Any] = {
            "name": name,
            "engine": "postgres",
            "version": "16.4",
            "replicas": 2,
            "storage": "10Gi",
        }
        values.update(overrides)
        with self.connect() as conn:
            accepted = control.create_database(conn, self.principal, DatabaseSpec(**values))
        return accepted.database

    def patch(self, database_id: uuid.UUID, body: dict[str, Any]) -> list[OperationRecord]:
        with self.connect() as conn:
            accepted = control.update_database(
                conn, self.principal, database_id, body, if_match=None, catalog=self.catalog
            )
        return accepted.operations

    def delete(self, database_id: uuid.UUID) -> OperationRecord:
        with self.connect() as conn:
            accepted = control.delete_database(conn, self.principal, database_id, if_match=None)
        return accepted.operations[0]

    def restart(self, database_id: uuid.UUID) -> OperationRecord:
        with self.connect() as conn:
            accepted = control.restart_database(conn, self.principal, database_id)
        return accepted.operations[0]

    # -- the worker ----------------------------------------------------------------------

    def work(self, database_id: uuid.UUID) -> str:
        """Run the worker's job for the database's head pending operation."""
        with self.connect() as conn:
            head = operations.head_pending(conn, database_id)
        assert head is not None, f"database {database_id} has no pending operation to start"
        return jobs.execute(self.worker, str(head.id))

    def queued_ids(self) -> list[str]:
        return [job.args[0] for job in self.queue.get_jobs()]

    # -- reading ---------------------------------------------------------------------------

    def database(self, database_id: uuid.UUID) -> DatabaseRecord:
        with self.connect() as conn:
            found = databases.get_by_id(conn, database_id)
        assert found is not None
        return found

    def operation(self, operation_id: uuid.UUID) -> OperationRecord:
        with self.connect() as conn:
            found = operations.get(conn, operation_id)
        assert found is not None
        return found

    # -- status-sync -----------------------------------------------------------------------

    def cycle_until(self, probe: Callable[[], T | None], *, timeout: float = 15.0) -> T:
        """Run status-sync cycles until `probe` returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.outcomes.append(self.sync.run_cycle())
            found = probe()
            if found:
                return found
        raise AssertionError(
            f"condition not met within {timeout}s; last outcomes: {self.outcomes[-5:]}"
        )

    def settled(self, operation_id: uuid.UUID) -> OperationRecord | None:
        op = self.operation(operation_id)
        return op if op.state in ("succeeded", "failed", "cancelled") else None

    def cr(self, name: str, plural: str = "postgreses") -> dict[str, Any]:
        from services.domain.resources import Resource

        return self.cluster.get(Resource("kubedb.com", "v1", plural, "Postgres"), NAMESPACE, name)

    def ready(self, name: str = "orders", **overrides: Any) -> DatabaseRecord:
        """A database created through the whole loop: create, work, cycles until succeeded."""
        record = self.create(name, **overrides)
        self.work(record.id)
        with self.connect() as conn:
            (create_op,) = operations.open_for_database(conn, record.id)
        self.cycle_until(lambda: self.settled(create_op.id))
        assert self.operation(create_op.id).state == "succeeded"
        return self.database(record.id)

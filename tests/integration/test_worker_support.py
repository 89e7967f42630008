"""Shared setup of the worker tests (no tests here): a `World` of real PostgreSQL, real Redis,
a Kubernetes client, and the control use cases that write operations the way the API does.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import redis
from kubernetes import client
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from services.clients import kube, postgres
from services.clients import queue as queue_client
from services.control import databases as use_cases
from services.control import outcomes
from services.domain import engines, resources, versions
from services.domain.engines import Engine
from services.domain.records import DatabaseRecord, EventRecord, OperationRecord, Principal
from services.domain.specs import DatabaseSpec
from services.store import events, operations, projects
from services.worker import context, jobs
from services.worker.retrying import RetryPolicy

PROJECT = "team-a"
NAMESPACE = projects.namespace_for(PROJECT)

# A version of each engine, and one it may be upgraded to (from the sim's catalog).
VERSIONS: dict[str, tuple[str, str]] = {
    "postgres": ("16.4", "16.13"),
    "mysql": ("8.4.2", "8.4.8"),
    "mongodb": ("7.0.21", "7.0.28"),
    "redis": ("7.2.4", "7.4.6"),
}
# A replicated size of each engine, and a larger one.
REPLICAS: dict[str, tuple[int, int]] = {
    "postgres": (2, 3),
    "mysql": (3, 5),
    "mongodb": (3, 5),
    "redis": (2, 3),
}


def unreachable_api_client() -> client.ApiClient:
    """A client of a port nobody listens on: every call is a connection error."""
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:1"
    return client.ApiClient(configuration)


class _Outcomes(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.funcName == "run_operation":
            self.sink.append(record.getMessage())


@dataclasses.dataclass
class World:
    database_url: str
    redis: redis.Redis
    queue: Queue
    cluster: kube.KubeClient
    context: context.Context
    sleeps: list[float]
    principal: Principal

    def conn(self) -> AbstractContextManager[postgres.Connection]:
        return postgres.connect(self.database_url)

    # -- writing operations as the API does -------------------------------------------

    def create(
        self,
        engine: str,
        name: str,
        *,
        version: str | None = None,
        replicas: int = 1,
        storage: str = "1Gi",
        deletion_policy: str = "Delete",
        enqueue: bool = True,
    ) -> tuple[DatabaseRecord, OperationRecord]:
        spec = DatabaseSpec(
            name=name,
            engine=Engine(engine),
            version=version or VERSIONS[engine][0],
            replicas=replicas,
            storage=storage,
            deletion_policy=deletion_policy,
        )
        with self.conn() as conn:
            accepted = use_cases.create_database(conn, self.principal, spec)
        if enqueue:
            self.enqueue(accepted.operations)
        return accepted.database, accepted.operations[0]

    def update(
        self, database_id: uuid.UUID, body: dict[str, Any], *, enqueue: bool = True
    ) -> list[OperationRecord]:
        with self.conn() as conn:
            accepted = use_cases.update_database(
                conn, self.principal, database_id, body, if_match=None, catalog=self.catalog()
            )
        if enqueue:
            self.enqueue(accepted.operations)
        return accepted.operations

    def restart(self, database_id: uuid.UUID) -> OperationRecord:
        with self.conn() as conn:
            accepted = use_cases.restart_database(conn, self.principal, database_id)
        self.enqueue(accepted.operations)
        return accepted.operations[0]

    def delete(self, database_id: uuid.UUID) -> OperationRecord:
        with self.conn() as conn:
            accepted = use_cases.delete_database(conn, self.principal, database_id, if_match=None)
        self.enqueue(accepted.operations)
        return accepted.operations[0]

    def enqueue(self, ops: list[OperationRecord]) -> None:
        queue_client.enqueue_operations(self.queue, [op.id for op in ops])

    def catalog(self) -> dict[str, list[versions.CatalogVersion]]:
        found: dict[str, list[versions.CatalogVersion]] = {}
        for facts in engines.ENGINES.values():
            items, _ = self.cluster.list_all(resources.catalog_resource(facts))
            found[facts.engine.value] = [versions.parse_catalog_object(item) for item in items]
        return found

    # -- running the worker -----------------------------------------------------------

    def run(self, op: OperationRecord | uuid.UUID) -> str:
        """One job, in-process, as RQ would call it."""
        op_id = op.id if isinstance(op, OperationRecord) else op
        return jobs.execute(self.context, str(op_id))

    def work(self) -> list[str]:
        """Drain the queue with an in-process RQ worker; the outcome of every job it ran."""
        outcomes: list[str] = []
        handler = _Outcomes(outcomes)
        logger = logging.getLogger(jobs.__name__)
        logger.addHandler(handler)
        level = logger.level
        logger.setLevel(logging.INFO)
        try:
            worker = SimpleWorker(
                [self.queue], connection=self.redis, name=f"test-{uuid.uuid4().hex}"
            )
            worker.work(burst=True)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        failed = FailedJobRegistry(queue=self.queue)
        assert failed.count == 0, [
            job.latest_result().exc_string if job and job.latest_result() else job_id
            for job_id in failed.get_job_ids()
            for job in [self.queue.fetch_job(job_id)]
        ]
        return outcomes

    # -- reading back -----------------------------------------------------------------

    def op(self, op_id: uuid.UUID) -> OperationRecord:
        with self.conn() as conn:
            found = operations.get(conn, op_id)
        assert found is not None
        return found

    def events(self, kind: str) -> list[EventRecord]:
        with self.conn() as conn:
            return events.of_kind(conn, kind)

    def set_op(self, op_id: uuid.UUID, **columns: Any) -> None:
        """Force columns of an operation row (to stage crashes and stale leases)."""
        assignments = ", ".join(f"{column} = %({column})s" for column in columns)
        with self.conn() as conn:
            conn.execute(
                f"UPDATE operations SET {assignments} WHERE id = %(id)s", {**columns, "id": op_id}
            )


def make_world(
    database_url: str, redis_url: str, api_client: client.ApiClient, *, name: str = "w1"
) -> Iterator[World]:
    redis_conn = queue_client.connect(redis_url)
    op_queue = queue_client.operation_queue(redis_conn, "test-operations")
    cluster = kube.KubeClient(api_client, request_timeout=5.0)
    sleeps: list[float] = []
    ctx = context.Context(
        connect=lambda: postgres.connect(database_url),
        cluster=cluster,
        queue=op_queue,
        worker_name=name,
        lease_seconds=60.0,
        retry=RetryPolicy(),
        sleep=sleeps.append,
        random=lambda: 0.5,  # no jitter: delays are exactly base * 2**n
    )
    jobs.configure(lambda: ctx)
    with postgres.connect(database_url) as conn:
        projects.ensure(conn, PROJECT)
    principal = Principal(key_id=uuid.uuid4(), project_id=PROJECT, role="admin")
    try:
        yield World(database_url, redis_conn, op_queue, cluster, ctx, sleeps, principal)
    finally:
        jobs.configure(None)
        cluster.close()
        redis_conn.close()


# -- the simulated cluster side ---------------------------------------------------------------


def db_resource(engine: str) -> tuple[str, str, str]:
    facts = engines.spec_for(engine)
    return engines.DB_GROUP, engines.DB_VERSION, facts.plural


def ops_resource(engine: str) -> tuple[str, str, str]:
    facts = engines.spec_for(engine)
    return engines.OPS_GROUP, engines.OPS_VERSION, facts.ops_plural


def read_object(
    api_client: client.ApiClient, resource: tuple[str, str, str], name: str
) -> dict[str, Any] | None:
    """An object read back with the official client; None when it does not exist."""
    group, version, plural = resource
    custom = client.CustomObjectsApi(api_client)
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            group, version, NAMESPACE, plural, name
        )
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def list_objects(
    api_client: client.ApiClient, resource: tuple[str, str, str], label_selector: str = ""
) -> list[dict[str, Any]]:
    group, version, plural = resource
    custom = client.CustomObjectsApi(api_client)
    listed = custom.list_namespaced_custom_object(
        group, version, NAMESPACE, plural, label_selector=label_selector
    )
    return list(listed["items"])


def phase_of(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("status") or {}).get("phase")


def complete(world: World, op: OperationRecord) -> None:
    """What status-sync does when KubeDB reports success (it is not under test here)."""
    with world.conn() as conn:
        assert outcomes.succeed_operation(conn, op.id, actor="test") is not None

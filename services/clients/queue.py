"""The RQ queue of operation jobs: the only module (with the worker) that imports rq/redis.

A job carries nothing but an operation id; PostgreSQL holds the truth. Losing a job is
harmless (the sweeper enqueues again) and so is a duplicate (the claim is conditional).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis
from rq import Queue

RUN_OPERATION = "services.worker.jobs.run_operation"
JOB_TIMEOUT_SECONDS = 300
RESULT_TTL_SECONDS = 1
"""How long RQ keeps a finished job and its return value (the outcome, which the worker logs
too; nothing reads it back). Not 0: RQ deletes a job with result_ttl=0 at once, reading its
registries and executions to do so, which costs 27 Redis round trips per job instead of 20
(rq 3.0); a job left to expire is dropped by Redis itself and its finished-registry entry
by the worker's periodic registry cleaning."""
FAILURE_TTL_SECONDS = 3600


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)


def operation_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection)


def enqueue_operations(queue: Queue, operation_ids: Iterable[uuid.UUID]) -> int:
    """Enqueue one job per operation in one round trip; return how many."""
    jobs = [
        Queue.prepare_data(
            RUN_OPERATION,
            args=(str(operation_id),),
            timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"operation {operation_id}",
        )
        for operation_id in operation_ids
    ]
    if not jobs:
        return 0
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(jobs)

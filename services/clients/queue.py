"""The RQ queue of operation jobs and the Redis connection it runs on.

A job carries nothing but an operation id; PostgreSQL holds the truth. Losing a job is
harmless (the sweeper enqueues again) and so is a duplicate (the claim is conditional).
Outside `clients`, only the worker's entry point (`commands.worker`, which subclasses RQ's
Worker) imports rq; the import contracts in pyproject.toml hold that.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis
from rq import Queue as Queue  # re-exported: the type callers hold

QueueError = redis.exceptions.RedisError
"""Any failed Redis call (connection, timeout, server error)."""
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
"""What a call raises when Redis is down or unreachable; never broader."""

RUN_OPERATION = "services.worker.jobs.run_operation"
JOB_TIMEOUT_SECONDS = 300
RESULT_TTL_SECONDS = 1
"""How long RQ keeps a finished job and its return value (the outcome, which the worker logs
too; nothing reads it back). Not 0: RQ deletes a job with result_ttl=0 at once, reading its
registries and executions to do so, which costs more Redis round trips per job (counted
in bench/README.md); a job left to expire is dropped by Redis itself and its finished-registry entry
by the worker's periodic registry cleaning."""
FAILURE_TTL_SECONDS = 3600


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)


def reachable(url: str) -> bool:
    """Whether the Redis server of `url` answers a PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return False
    finally:
        client.close()
    return True


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

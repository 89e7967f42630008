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
from rq.job import Job, JobStatus
from rq.queue import EnqueueData

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
REDISPATCH_TTL_SECONDS = 600
"""How long a redispatched job may wait in the queue before Redis drops it. While it waits,
the sweep adds no other; once it is gone (run, dropped, or lost with a worker killed between
taking it and starting it), the next sweep may enqueue the operation again."""


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
    return _enqueue(queue, [_job(operation_id) for operation_id in operation_ids])


def redispatch_operations(queue: Queue, operation_ids: Iterable[uuid.UUID]) -> int:
    """Enqueue again the operations that have no redispatched job still waiting; return how
    many were enqueued.

    The sweep re-enqueues operations pending longer than its threshold. Behind a backlog that
    takes longer than that to drain, every sweep would otherwise add one more job for each
    waiting operation, and the duplicates would lengthen the backlog they were caused by. A
    redispatched job has the operation's own id, so the sweep can see it still queued.
    """
    ids = list(operation_ids)
    if not ids:
        return 0
    with queue.connection.pipeline(transaction=False) as pipe:
        for operation_id in ids:
            pipe.hget(Job.key_for(_redispatch_id(operation_id)), "status")
        statuses = pipe.execute()
    waiting = JobStatus.QUEUED.value.encode()
    jobs = [
        _job(operation_id, job_id=_redispatch_id(operation_id), ttl=REDISPATCH_TTL_SECONDS)
        for operation_id, status in zip(ids, statuses, strict=True)
        if status != waiting
    ]
    return _enqueue(queue, jobs)


def _redispatch_id(operation_id: uuid.UUID) -> str:
    return f"redispatch-{operation_id}"


def _job(
    operation_id: uuid.UUID, *, job_id: str | None = None, ttl: int | None = None
) -> EnqueueData:
    return Queue.prepare_data(
        RUN_OPERATION,
        args=(str(operation_id),),
        timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        ttl=ttl,
        failure_ttl=FAILURE_TTL_SECONDS,
        description=f"operation {operation_id}",
        job_id=job_id,
    )


def _enqueue(queue: Queue, jobs: list[EnqueueData]) -> int:
    if not jobs:
        return 0
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    return len(jobs)

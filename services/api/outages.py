"""The driver exceptions that mean "a backing service is down", for the 503 handlers.

Why a module of its own: the API otherwise never names psycopg or redis (only the clients
and stores do). Catching an outage needs the exception classes, so they are imported here
and nowhere else in the API. Never catch anything broader here: a programming error must
stay a 500, not turn into a misleading 503.
"""

from __future__ import annotations

import psycopg
import redis.exceptions

from services.clients import postgres

# PoolTimeout and PoolClosed (psycopg_pool) subclass psycopg.OperationalError.
STORE_DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError,)
CONFLICTS = postgres.CONFLICTS
"""Deadlock and serialization failures that outlasted `postgres.retry_conflicts`: 409, not
the 503 their base class (OperationalError) would get."""
QUEUE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

"""The driver exceptions that mean "a backing service is down", for the 503 handlers.

Why a module of its own: the API never names psycopg or redis; the clients say which of
their exceptions mean an outage. Never catch anything broader here: a programming error must
stay a 500, not turn into a misleading 503.
"""

from __future__ import annotations

from services.clients import postgres, queue

STORE_DOWN = postgres.UNAVAILABLE
CONFLICTS = postgres.CONFLICTS
"""Deadlock and serialization failures that outlasted `postgres.retry_conflicts`: 409, not
the 503 their base class (OperationalError) would get."""
QUEUE_DOWN = queue.UNAVAILABLE

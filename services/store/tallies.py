"""Counts for /metrics, read at scrape time: operations and databases by kind and state.

Read from PostgreSQL, the source of truth, rather than counted in memory: whichever API
worker (or pod) answers the scrape gives the same values, and nothing is lost when a
process restarts. The counters (completed operations, the duration histogram) are counts
of rows in terminal states, which only grow: operations are never deleted. Each query is
one pass over its table, grouped; at 10,000 databases a scrape's queries take a few
milliseconds (bench/metrics_scrape.py).
"""

from __future__ import annotations

import dataclasses

from services.clients.postgres import Connection

TERMINAL = ("succeeded", "failed", "cancelled")
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Upper bounds (seconds) of dbaas_operation_duration_seconds, from accepted to terminal:
a restart takes seconds, a create a minute or two, the timeout is an hour."""


@dataclasses.dataclass(frozen=True)
class Durations:
    """A cumulative histogram of one operation type: counts at or below each bucket."""

    buckets: tuple[int, ...]
    count: int
    total_seconds: float


@dataclasses.dataclass(frozen=True)
class Tallies:
    operations: dict[tuple[str, str], int]
    """(type, state) → operations in that state now."""
    queue_depth: int
    """Operations accepted and not yet started (pending)."""
    oldest_open_age_seconds: float
    """Age of the oldest operation not yet terminal (pending, running or waiting); 0 if none."""
    durations: dict[str, Durations]
    """By type, terminal operations' time from accepted (created) to terminal (finished)."""
    databases: dict[tuple[str, str], int]
    """(engine, state) → databases."""


def _duration_columns() -> str:
    return ", ".join(
        f"count(*) FILTER (WHERE d <= {bound!r}) AS le{i}"
        for i, bound in enumerate(DURATION_BUCKETS)
    )


def read(conn: Connection) -> Tallies:
    by_state = {
        (str(row["type"]), str(row["state"])): int(row["n"])
        for row in conn.execute(
            "SELECT type, state, count(*) AS n FROM operations GROUP BY type, state"
        )
    }
    open_row = conn.execute(
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
        " FROM operations WHERE state IN ('pending', 'running', 'waiting')"
    ).fetchone()
    durations: dict[str, Durations] = {}
    for row in conn.execute(
        f"SELECT type, {_duration_columns()}, count(*) AS n, coalesce(sum(d), 0) AS total"
        " FROM (SELECT type, extract(epoch FROM finished_at - created_at) AS d"
        "   FROM operations WHERE state IN ('succeeded', 'failed', 'cancelled')"
        "   AND finished_at IS NOT NULL) AS finished"
        " GROUP BY type"
    ):
        durations[str(row["type"])] = Durations(
            buckets=tuple(int(row[f"le{i}"]) for i in range(len(DURATION_BUCKETS))),
            count=int(row["n"]),
            total_seconds=float(row["total"]),
        )
    databases = {
        (str(row["engine"]), str(row["state"])): int(row["n"])
        for row in conn.execute(
            "SELECT engine, state, count(*) AS n FROM databases GROUP BY engine, state"
        )
    }
    return Tallies(
        operations=by_state,
        queue_depth=sum(n for (_, state), n in by_state.items() if state == "pending"),
        oldest_open_age_seconds=float(open_row["age"]) if open_row else 0.0,
        durations=durations,
        databases=databases,
    )

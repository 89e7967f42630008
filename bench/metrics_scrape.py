"""Benchmark: the cost of one /metrics scrape at 10,000 databases.

    .venv/bin/python bench/metrics_scrape.py [--databases 10000] [--scrapes 50]

A throwaway database holds one project with N ready postgres databases (COPY, each with a
succeeded create operation) and a burst of 200 pending operations on top; `dbaas api`
serves it. Figures: the latency of GET /metrics (the pod's dbaas_* series are read from
PostgreSQL at scrape time) against GET /healthz of the same server in the same run (the
baseline: no work at all), p50 and p99; the time of the tallies' SQL alone, in-process;
and the size of the answer.

Progress goes to stderr; stdout gets a table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, seeding
from services.clients import postgres
from services.store import tallies

PROJECT = "bench"


def timed_get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--databases", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    common.install_signal_handlers()
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        database_url = stack.enter_context(common.throwaway_database())
        redis_url = stack.enter_context(common.benchmark_redis())
        common.say(f"seeding {args.databases} databases")
        seeding.insert_databases(database_url, project=PROJECT, count=args.databases)
        seeding.create_burst(database_url, project=PROJECT, count=200)
        with postgres.connect(database_url) as conn:
            conn.execute("ANALYZE")
            conn.commit()
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=None,
            api_port=common.free_port(),
        )
        _, base = common.start_api(stack, work, env)
        for _ in range(5):  # warm both paths
            timed_get(base + "/metrics")
            timed_get(base + "/healthz")
        scrapes, health = [], []
        size = 0
        for _ in range(args.scrapes):
            seconds, size = timed_get(base + "/metrics")
            scrapes.append(seconds)
            health.append(timed_get(base + "/healthz")[0])
        sql = []
        with postgres.connect(database_url) as conn:
            for _ in range(args.scrapes):
                started = time.perf_counter()
                counts = tallies.read(conn)
                sql.append(time.perf_counter() - started)
        scrape, baseline, queries = (
            common.summarize(scrapes),
            common.summarize(health),
            common.summarize(sql),
        )
    rows = [
        ["GET /metrics", f"{scrape.p50_ms:.1f}", f"{scrape.p99_ms:.1f}", f"{size:,}"],
        ["GET /healthz (baseline)", f"{baseline.p50_ms:.1f}", f"{baseline.p99_ms:.1f}", ""],
        ["tallies SQL alone", f"{queries.p50_ms:.1f}", f"{queries.p99_ms:.1f}", ""],
    ]
    print(f"{args.databases} databases, {sum(counts.operations.values())} operations")
    print(common.format_table(["what", "p50 ms", "p99 ms", "bytes"], rows))
    print(
        common.json_line(
            "metrics_scrape",
            {
                "databases": args.databases,
                "scrape_p50_ms": scrape.p50_ms,
                "scrape_p99_ms": scrape.p99_ms,
                "healthz_p50_ms": baseline.p50_ms,
                "sql_p50_ms": queries.p50_ms,
                "bytes": size,
            },
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 3: operations per second from API acceptance to the CR in the cluster, against
raw RQ no-op jobs run by the same worker program in the same run.

    .venv/bin/python bench/operations_throughput.py [--quick]

Baseline: `dbaas worker` itself (rq SimpleWorker, the class it uses) on a queue of its own
drains N no-op jobs (bench/noop.py, enqueued with the options operation jobs have); the
rate is N over the time from the enqueue to the empty queue.

Pipeline: the API (`dbaas api`) and `dbaas worker` against the simulated cluster; N
`POST /v1/databases` (8 client threads) each answer 202, and the worker creates each
database's CR (Postgres) in the sim. The rate is N over the time from the first POST to
the N-th CR counted by the sim (`/sim/stats`). Target: pipeline >= 50 % of the no-op rate.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

PROJECT = "bench"
TARGET_RATIO = 0.50
NOOP = "bench.noop.noop"
CLIENT_THREADS = 8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 operations (< 1 minute)")
    parser.add_argument("--operations", type=int, default=None, help="N (default 1000)")
    parser.add_argument("--noop-jobs", type=int, default=None, help="no-op jobs (default 2000)")
    args = parser.parse_args()
    args.operations = args.operations or (300 if args.quick else 1000)
    args.noop_jobs = args.noop_jobs or (1000 if args.quick else 2000)
    return args


def enqueue_noops(redis_url: str, queue_name: str, count: int) -> None:
    from rq import Queue

    from services.clients import queue as queue_client

    connection = queue_client.connect(redis_url)
    queue = Queue(queue_name, connection=connection)
    jobs = [
        Queue.prepare_data(
            NOOP,
            args=(str(uuid.uuid4()),),
            timeout=queue_client.JOB_TIMEOUT_SECONDS,
            result_ttl=0,
            failure_ttl=3600,
        )
        for _ in range(count)
    ]
    for start in range(0, count, 500):
        with connection.pipeline() as pipe:
            queue.enqueue_many(jobs[start : start + 500], pipeline=pipe)
            pipe.execute()
    connection.close()


def queue_drained(redis_url: str, queue_name: str) -> bool:
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from services.clients import queue as queue_client

    connection = queue_client.connect(redis_url)
    try:
        queue = Queue(queue_name, connection=connection)
        started = StartedJobRegistry(queue_name, connection=connection)
        return queue.count == 0 and started.count == 0
    finally:
        connection.close()


def noop_rate(
    stack: contextlib.ExitStack, work: Path, env: dict[str, str], count: int
) -> tuple[float, float]:
    """(jobs/s, seconds) of `dbaas worker` draining `count` no-op jobs."""
    queue_name = "bench-noop"
    worker_env = env | {"DBAAS_QUEUE_NAME": queue_name, "DBAAS_WORKER_NAME": "bench-noop"}
    with contextlib.ExitStack() as local:
        worker = common.start_service(
            local, "noop-worker", common.dbaas_command("worker"), env=worker_env, workdir=work
        )
        # ready = it has run a first job (its startup, imports and clients are behind it)
        enqueue_noops(env["DBAAS_REDIS_URL"], queue_name, 1)
        common.wait_until(
            "the no-op worker's first job",
            lambda: queue_drained(env["DBAAS_REDIS_URL"], queue_name),
            timeout=60,
            alive=worker.check_alive,
        )
        started = time.monotonic()
        enqueue_noops(env["DBAAS_REDIS_URL"], queue_name, count)
        common.wait_until(
            "the no-op burst",
            lambda: queue_drained(env["DBAAS_REDIS_URL"], queue_name),
            timeout=600,
            interval=0.02,
            alive=worker.check_alive,
        )
        seconds = time.monotonic() - started
    return count / seconds, seconds


def post_creates(api: str, key: str, names: list[str], accepted: list[float]) -> list[str]:
    """POST one create per name over a keep-alive connection; failures as text."""
    parsed = urllib.parse.urlsplit(api)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    failures: list[str] = []
    try:
        for name in names:
            body = {"name": name, "engine": "postgres", "version": "16.13", "storage": "1Gi"}
            conn.request("POST", "/v1/databases", body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status == 202:
                accepted.append(time.monotonic())
            else:
                failures.append(f"{response.status}: {payload[:300]!r}")
    finally:
        conn.close()
    return failures


def pipeline_rate(
    api: str, key: str, sim: common.Sim, worker: common.Service, count: int
) -> dict[str, float]:
    names = [f"op-{i:05d}" for i in range(count)]
    accepted: list[float] = []
    failures: list[str] = []

    def client(chunk: list[str]) -> None:
        failures.extend(post_creates(api, key, chunk, accepted))

    threads = [
        threading.Thread(target=client, args=(names[i::CLIENT_THREADS],), name=f"poster-{i}")
        for i in range(CLIENT_THREADS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    created_at: float | None = None

    def all_created() -> bool:
        nonlocal created_at
        if sim.object_count("postgreses") >= count:
            created_at = time.monotonic()
            return True
        return False

    try:
        common.wait_until(
            "the CRs", all_created, timeout=900, interval=0.1, alive=worker.check_alive
        )
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} POSTs failed, first: {failures[0]}")
    assert created_at is not None
    return {
        "accepted_per_s": count / (max(accepted) - started),
        "end_to_end_per_s": count / (created_at - started),
        "seconds": created_at - started,
        "accept_seconds": max(accepted) - started,
    }


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        database_url = stack.enter_context(common.throwaway_database())
        redis_url = stack.enter_context(common.benchmark_redis())
        sim = common.start_sim(stack, work)
        key = common.create_api_key(database_url, project=PROJECT, role="operator")
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            api_port=common.free_port(),
        )
        common.say(f"raw RQ: `dbaas worker` draining {args.noop_jobs} no-op jobs")
        noop_per_s, noop_seconds = noop_rate(stack, work, env, args.noop_jobs)
        common.say(f"raw RQ: {noop_per_s:,.0f} jobs/s")
        _, api = common.start_api(stack, work, env)
        worker = common.start_service(
            stack, "worker", common.dbaas_command("worker"), env=env, workdir=work
        )
        common.say(f"pipeline: {args.operations} POST /v1/databases -> CRs in the sim")
        pipeline = pipeline_rate(api, key, sim, worker, args.operations)
        common.say(f"pipeline: {pipeline['end_to_end_per_s']:,.1f} operations/s")
    report(args, noop_per_s, noop_seconds, pipeline, load=(load_before, os.getloadavg()[0]))
    return 0


def report(
    args: argparse.Namespace,
    noop_per_s: float,
    noop_seconds: float,
    pipeline: dict[str, float],
    *,
    load: tuple[float, float],
) -> None:
    ratio = common.ratio(pipeline["end_to_end_per_s"], noop_per_s)
    met = ratio >= TARGET_RATIO
    rows: list[list[Any]] = [
        [
            "raw RQ no-op jobs (dbaas worker, SimpleWorker)",
            args.noop_jobs,
            noop_seconds,
            noop_per_s,
        ],
        [
            "POST /v1/databases accepted (202)",
            args.operations,
            pipeline["accept_seconds"],
            pipeline["accepted_per_s"],
        ],
        [
            "POST accepted -> CR created in the sim",
            args.operations,
            pipeline["seconds"],
            pipeline["end_to_end_per_s"],
        ],
    ]
    print(
        f"operation throughput, {CLIENT_THREADS} client threads, one `dbaas worker`;"
        f" load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} CPUs)"
    )
    print(common.format_table(["what", "count", "seconds", "per second"], rows))
    verdict = "met" if met else "MISSED"
    print(f"pipeline / raw RQ = {ratio:.3f}; target >= {TARGET_RATIO:.2f}: {verdict}")
    figures = {
        "operations": args.operations,
        "noop_jobs": args.noop_jobs,
        "noop_jobs_per_s": noop_per_s,
        "accepted_per_s": pipeline["accepted_per_s"],
        "operations_per_s": pipeline["end_to_end_per_s"],
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": met,
        "worker_class": "rq.SimpleWorker (dbaas worker default)",
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
    }
    print(common.json_line("operations_throughput", figures))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 3: operations per second from API acceptance to the CR in the cluster, against
raw RQ no-op jobs run by the same worker program in the same run.

    .venv/bin/python bench/operations_throughput.py [--quick]

Baseline: `dbaas worker` itself (rq SimpleWorker, the class it uses) on a queue of its own
drains N no-op jobs (bench/noop.py, enqueued with the options operation jobs have); the
rate is N over the time from the enqueue to the empty queue.

Pipeline: the API (`dbaas api`) and `dbaas worker` against the simulated cluster; N
`POST /v1/databases` (8 client threads) each answer 202, and the worker creates each
database's CR (Postgres) in the sim. The rate is N over the time from the first POST to
the N-th CR counted by the sim (`/sim/stats`), the worker having carried out one warm-up
operation before the timer starts (as the no-op worker runs one job first). Target:
pipeline >= 50 % of the no-op rate (the mean of a no-op run before and one after the
pipeline, as a shared host's speed drifts).
CPU time per job / operation of the worker (and of the API and the sim) is reported too.

The sim's KubeDB operator provisions a database (StatefulSet, Services, Secrets, status)
`--provision-delay` seconds after its CR appears. That is the cluster's work after the
measured path ends, done elsewhere in production; by default it is deferred past the timed
window, so that on a small shared host it does not compete for CPU with the path measured
(the CR's admission, schema validation and first status write stay inside the window).
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
STALL_SECONDS = 60.0
PROVISION_DELAY = 600.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 operations (< 1 minute)")
    parser.add_argument("--operations", type=int, default=None, help="N (default 1000)")
    parser.add_argument("--noop-jobs", type=int, default=None, help="no-op jobs (default 2000)")
    parser.add_argument(
        "--provision-delay",
        type=float,
        default=PROVISION_DELAY,
        help=f"seconds before the sim's operator provisions a new CR (default"
        f" {PROVISION_DELAY:.0f}: after the timed window; 1 is the sim's own default)",
    )
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
            result_ttl=queue_client.RESULT_TTL_SECONDS,
            failure_ttl=queue_client.FAILURE_TTL_SECONDS,
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


def noop_rate(work: Path, env: dict[str, str], count: int) -> tuple[float, float, float]:
    """(jobs/s, seconds, worker CPU ms per job) of `dbaas worker` draining `count` no-op
    jobs."""
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
        cpu_before, started = common.tree_cpu_seconds(worker.pid), time.monotonic()
        enqueue_noops(env["DBAAS_REDIS_URL"], queue_name, count)
        common.wait_until(
            "the no-op burst",
            lambda: queue_drained(env["DBAAS_REDIS_URL"], queue_name),
            timeout=600,
            interval=0.02,
            alive=worker.check_alive,
        )
        seconds = time.monotonic() - started
        cpu = common.tree_cpu_seconds(worker.pid) - cpu_before
    return count / seconds, seconds, cpu * 1000 / count


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


def warm_up_worker(api: str, key: str, sim: common.Sim, worker: common.Service) -> None:
    """Run one operation through the worker before the timer starts, as `noop_rate` runs one
    no-op job: its startup (imports, clients, the project's namespace) is behind it then."""
    failures = post_creates(api, key, ["warm-up"], [])
    if failures:
        raise RuntimeError(f"the warm-up POST failed: {failures[0]}")
    common.wait_until(
        "the worker's first operation",
        lambda: sim.object_count("postgreses") >= 1,
        timeout=60,
        interval=0.05,
        alive=worker.check_alive,
    )


def pipeline_rate(
    api: tuple[str, int], key: str, sim: common.Sim, worker: common.Service, count: int
) -> dict[str, float]:
    """POST `count` creates and wait for their CRs; rates, seconds and CPU per operation."""
    base, api_pid = api
    warm_up_worker(base, key, sim, worker)
    already = sim.object_count("postgreses")
    names = [f"op-{i:05d}" for i in range(count)]
    accepted: list[float] = []
    failures: list[str] = []

    def client(chunk: list[str]) -> None:
        failures.extend(post_creates(base, key, chunk, accepted))

    threads = [
        threading.Thread(target=client, args=(names[i::CLIENT_THREADS],), name=f"poster-{i}")
        for i in range(CLIENT_THREADS)
    ]
    pids = {"worker": worker.pid, "api": api_pid, "sim": sim.service.pid}
    cpu_before = {name: common.tree_cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    for thread in threads:
        thread.start()
    created_at = started
    progress = (0, started)
    samples: list[tuple[float, int]] = []

    def all_created() -> bool:
        nonlocal created_at, progress
        if failures:
            raise RuntimeError(f"{len(failures)} POSTs failed, first: {failures[0]}")
        created = sim.object_count("postgreses") - already
        now = time.monotonic()
        samples.append((now, created))
        if created > progress[0]:
            progress = (created, now)
        elif now - progress[1] > STALL_SECONDS:
            raise RuntimeError(
                f"no new CR for {STALL_SECONDS:.0f}s at {created} of {count}; worker log:\n"
                + common.tail(worker.log)
            )
        if created >= count:
            created_at = now
            return True
        return False

    try:
        common.wait_until(
            "the CRs", all_created, timeout=900, interval=0.1, alive=worker.check_alive
        )
    finally:
        for thread in threads:
            thread.join()
    cpu = {
        name: (common.tree_cpu_seconds(pid) - cpu_before[name]) * 1000 / count
        for name, pid in pids.items()
    }
    # how the two phases went: while the API was still accepting (all programs busy), after
    accepted_at = max(accepted)
    during = max((n for at, n in samples if at <= accepted_at), default=0)
    return {
        "created_while_accepting": during,
        "after_accepting_per_s": (count - during) / max(created_at - accepted_at, 1e-9),
        "accepted_per_s": count / (max(accepted) - started),
        "end_to_end_per_s": count / (created_at - started),
        "seconds": created_at - started,
        "accept_seconds": max(accepted) - started,
        **{f"{name}_cpu_ms_per_operation": value for name, value in cpu.items()},
    }


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())  # first: it may wait
        database_url = stack.enter_context(common.throwaway_database())
        sim = common.start_sim(stack, work, provision_delay=args.provision_delay)
        key = common.create_api_key(database_url, project=PROJECT, role="operator")
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            api_port=common.free_port(),
        )
        noops = []
        common.say(f"raw RQ: `dbaas worker` draining {args.noop_jobs} no-op jobs")
        noops.append(noop_rate(work, env, args.noop_jobs))
        common.say(f"raw RQ: {noops[-1][0]:,.0f} jobs/s")
        api_service, api = common.start_api(stack, work, env)
        worker = common.start_service(
            stack, "worker", common.dbaas_command("worker"), env=env, workdir=work
        )
        common.say(f"pipeline: {args.operations} POST /v1/databases -> CRs in the sim")
        pipeline = pipeline_rate((api, api_service.pid), key, sim, worker, args.operations)
        common.say(f"pipeline: {pipeline['end_to_end_per_s']:,.1f} operations/s")
        worker.stop()
        common.say("raw RQ again (the machine may have changed meanwhile)")
        noops.append(noop_rate(work, env, args.noop_jobs))
        common.say(f"raw RQ: {noops[-1][0]:,.0f} jobs/s")
    report(args, noops, pipeline, load=(load_before, os.getloadavg()[0]))
    return 0


def report(
    args: argparse.Namespace,
    noops: list[tuple[float, float, float]],
    pipeline: dict[str, float],
    *,
    load: tuple[float, float],
) -> None:
    noop_per_s = sum(rate for rate, _, _ in noops) / len(noops)
    noop_cpu = sum(cpu for _, _, cpu in noops) / len(noops)
    ratio = common.ratio(pipeline["end_to_end_per_s"], noop_per_s)
    met = ratio >= TARGET_RATIO
    worker_cpu = pipeline["worker_cpu_ms_per_operation"]
    rows: list[list[Any]] = [
        [
            f"raw RQ no-op jobs, run {i + 1} (dbaas worker)",
            args.noop_jobs,
            seconds,
            rate,
            cpu,
        ]
        for i, (rate, seconds, cpu) in enumerate(noops)
    ]
    rows += [
        [
            "POST /v1/databases accepted (202)",
            args.operations,
            pipeline["accept_seconds"],
            pipeline["accepted_per_s"],
            pipeline["api_cpu_ms_per_operation"],
        ],
        [
            "POST accepted -> CR created in the sim",
            args.operations,
            pipeline["seconds"],
            pipeline["end_to_end_per_s"],
            worker_cpu,
        ],
    ]
    print(
        f"operation throughput, {CLIENT_THREADS} client threads, one `dbaas worker`"
        f" (rq SimpleWorker), sim provisioning after {args.provision_delay:g}s;"
        f" load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} CPUs)"
    )
    print(common.format_table(["what", "count", "seconds", "per second", "CPU ms each"], rows))
    print(
        "CPU ms each: of the worker process (no-op rows, pipeline row), of the API (POST row);"
        f" the sim spent {pipeline['sim_cpu_ms_per_operation']:.2f} ms per operation"
    )
    print(
        f"CRs created while the API was still accepting: {pipeline['created_while_accepting']}"
        f" of {args.operations}; after that: {pipeline['after_accepting_per_s']:,.0f} per second"
    )
    verdict = "met" if met else "MISSED"
    print(
        f"pipeline / mean raw RQ = {ratio:.3f}; target >= {TARGET_RATIO:.2f}: {verdict};"
        f" worker CPU per operation / per no-op job = {common.ratio(worker_cpu, noop_cpu):.1f}"
    )
    figures = {
        "operations": args.operations,
        "noop_jobs": args.noop_jobs,
        "noop_jobs_per_s": noop_per_s,
        "noop_jobs_per_s_runs": [rate for rate, _, _ in noops],
        "noop_worker_cpu_ms_per_job": noop_cpu,
        "accepted_per_s": pipeline["accepted_per_s"],
        "created_while_accepting": pipeline["created_while_accepting"],
        "after_accepting_per_s": pipeline["after_accepting_per_s"],
        "operations_per_s": pipeline["end_to_end_per_s"],
        "worker_cpu_ms_per_operation": worker_cpu,
        "api_cpu_ms_per_operation": pipeline["api_cpu_ms_per_operation"],
        "sim_cpu_ms_per_operation": pipeline["sim_cpu_ms_per_operation"],
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": met,
        "worker_class": "rq.SimpleWorker (dbaas worker default)",
        "sim_provision_delay_s": args.provision_delay,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
    }
    print(common.json_line("operations_throughput", figures))


if __name__ == "__main__":
    sys.exit(main())

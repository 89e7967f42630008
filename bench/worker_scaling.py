"""Operations per second with 1, 2 and 4 worker processes, without and with Kubernetes
latency, each against the 1-worker figure of the same latency in the same run.

    nice .venv/bin/python bench/worker_scaling.py [--quick] [--workers 1 2 4] [--latency-ms 0 50]

The operation is operations_throughput.py's: `PATCH /v1/databases/{id}` `{"replicas": 3}` on a
Ready standalone Postgres (a HorizontalScaling OpsRequest), sent by 8 client threads while
the workers run (end to end: first PATCH to the N-th OpsRequest counted by the sim). The
worker processes are N `dbaas worker` programs as DBAAS_WORKER_PROCESSES=N starts them in the
pod (each its own process, RQ name and heartbeat: `worker-0`...), on the one queue, sharing
the claims in PostgreSQL. Latency is the sim's fault injection (`/sim/faults` latency, every
verb, before each request is handled): what a remote API server adds to each of the worker's
Kubernetes calls. Every latency and worker count has databases of its own (a project each),
and every run is checked as operations_throughput.py checks it: each database one scale
operation, waiting or later, and one OpsRequest created once.

Two figures per configuration, each on databases of its own: drain, the worker stage alone
(the PATCHes accepted while every worker is stopped, timed from SIGCONT to the last
OpsRequest, as operations_throughput.py's drain), and end to end (the PATCHes sent while
the workers run: the single API process's accept rate is part of it). Reported:
operations/s, the ratio to 1 worker at the same latency, CPU ms
per operation of all worker processes together and of the API, the sim and PostgreSQL's
server processes, how many CPUs all of them kept busy (the ceiling: 2 on a 2-core host),
and each worker process's RSS and PSS at the end of its run (its cost in the pod). Each run
starts its workers afresh and times nothing until every one is registered with RQ and as
many warm-up operations as workers are done. Nothing else of the pod runs (no status-sync, no
drift): the figures are the workers' and the API's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, seeding
from bench.operations_throughput import (
    Batch,
    PostgresCpu,
    Target,
    seed_phase,
    verify,
    wait_for_ops_requests,
)

TARGET_AT_LATENCY = 3.0
"""Issue 19: at 50 ms, 4 workers >= 3x one worker."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (~2 minutes)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument(
        "--operations", type=int, default=None, help="operations without latency (default 400)"
    )
    parser.add_argument(
        "--operations-with-latency",
        type=int,
        default=None,
        help="operations per run with latency (default 160)",
    )
    args = parser.parse_args()
    if 1 not in args.workers:
        parser.error("--workers must include 1: the ratios are against it")
    args.operations = args.operations or (150 if args.quick else 400)
    args.operations_with_latency = args.operations_with_latency or (60 if args.quick else 160)
    return args


def set_latency(sim: common.Sim, seconds: float) -> None:
    common.http_json(sim.url + "/sim/faults", method="POST", body={"latency": {"seconds": seconds}})


def start_workers(
    stack: contextlib.ExitStack, work: Path, env: dict[str, str], count: int, tag: str
) -> list[common.Service]:
    """`count` worker processes, named and beating as supervisord's numprocs names them."""
    return [
        common.start_service(
            stack,
            f"{tag}-worker-{n}",
            common.dbaas_command("worker"),
            env=env | {"DBAAS_PROGRAM": f"worker-{n}"},
            workdir=work,
        )
        for n in range(count)
    ]


def process_memory(pid: int) -> tuple[float, float]:
    memory = common.tree_memory(pid)
    return memory.rss_mib, memory.pss_mib


def registered_workers(redis_url: str, queue_name: str) -> int:
    """RQ workers listening on the queue: a worker registers once its startup is behind it
    (imports, PostgreSQL and Redis checks, the Kubernetes client built)."""
    from rq import Queue, Worker

    from services.clients import queue as queue_client

    connection = queue_client.connect(redis_url)
    try:
        return int(
            Worker.count(connection=connection, queue=Queue(queue_name, connection=connection))
        )
    finally:
        connection.close()


def run_one(
    api: tuple[str, int],
    sim: common.Sim,
    workers: list[common.Service],
    warm: Sequence[Target],
    targets: Sequence[Target],
    drain_targets: Sequence[Target],
    *,
    env: dict[str, str],
) -> dict[str, Any]:
    def alive() -> None:
        for worker in workers:
            worker.check_alive()

    common.wait_until(
        f"{len(workers)} worker(s) listening",
        lambda: registered_workers(env["DBAAS_REDIS_URL"], env["DBAAS_QUEUE_NAME"]) == len(workers),
        timeout=120,
        interval=0.2,
        alive=alive,
    )
    base, api_pid = api
    # Warm: as many scales as worker processes through the queue before the timer starts.
    batch = Batch(base, warm)
    batch.start()
    batch.join()
    batch.check()
    wait_for_ops_requests(sim, workers[0], len(warm), started=time.monotonic(), check=alive)
    sim.reset_stats()
    drain_seconds, drained = drain(base, sim, workers, drain_targets, alive)
    cpu_before = [common.tree_cpu_seconds(w.pid) for w in workers]
    others = {"api": api_pid, "sim": sim.service.pid}
    others_before = {name: common.tree_cpu_seconds(pid) for name, pid in others.items()}
    postgres_cpu = PostgresCpu(env["DBAAS_DATABASE_URL"])
    started = time.monotonic()
    batch = Batch(base, targets)
    batch.start()
    try:
        done_at, created = wait_for_ops_requests(
            sim, workers[0], len(targets), started=started, check=alive
        )
    finally:
        batch.join()
    batch.check()
    cpu = sum(common.tree_cpu_seconds(w.pid) - b for w, b in zip(workers, cpu_before, strict=True))
    other_cpu = {
        name: common.tree_cpu_seconds(pid) - others_before[name] for name, pid in others.items()
    }
    other_cpu["postgres"] = postgres_cpu.seconds()
    memory = [process_memory(w.pid) for w in workers]
    sim.reset_stats()
    seconds = done_at - started
    everything = cpu + sum(other_cpu.values())
    return {
        **{
            f"{name}_cpu_ms_per_operation": v * 1000 / len(targets) for name, v in other_cpu.items()
        },
        "all_cpu_share": everything / seconds,
        "workers": len(workers),
        "operations": len(targets),
        "seconds": seconds,
        "per_s": len(targets) / seconds,
        "worker_cpu_ms_per_operation": cpu * 1000 / len(targets),
        "worker_cpu_share": cpu / seconds,
        "rss_mib_per_worker": sum(m[0] for m in memory) / len(memory),
        "pss_mib_per_worker": sum(m[1] for m in memory) / len(memory),
        "created": created | drained,
        "drain_operations": len(drain_targets),
        "drain_seconds": drain_seconds,
        "drain_per_s": len(drain_targets) / drain_seconds,
    }


def drain(
    api: str,
    sim: common.Sim,
    workers: list[common.Service],
    targets: Sequence[Target],
    alive: Callable[[], None],
) -> tuple[float, dict[str, int]]:
    """The worker stage alone: the PATCHes accepted while every worker is stopped (SIGSTOP),
    then the seconds from SIGCONT to the last OpsRequest, and the OpsRequests created."""
    for worker in workers:
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        batch = Batch(api, targets)
        batch.start()
        batch.join()
        batch.check()
        if sim.ops_requests_created():
            raise RuntimeError("OpsRequests created while the workers were stopped")
        started = time.monotonic()
    finally:
        for worker in workers:
            os.kill(worker.pid, signal.SIGCONT)
    done_at, created = wait_for_ops_requests(
        sim, workers[0], len(targets), started=started, check=alive
    )
    sim.reset_stats()
    return done_at - started, created


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())
        database_url = stack.enter_context(common.throwaway_database())
        sim = common.start_sim(stack, work, provision_delay=600.0, ops_step_delay=600.0)
        plan: list[tuple[float, int, list[Target], list[Target], list[Target]]] = []
        seeded_all: list[seeding.Seeded] = []
        for latency_ms in args.latency_ms:
            n = args.operations if latency_ms == 0 else args.operations_with_latency
            for count in args.workers:
                phase = f"l{latency_ms:g}-w{count}"
                common.say(f"seeding {n + count} Ready databases for {phase}")
                warm_seeded, warm = seed_phase(
                    database_url, sim, phase=f"{phase}-warm", count=count, projects=1
                )
                seeded, targets = seed_phase(database_url, sim, phase=phase, count=n, projects=1)
                drain_seeded, drain_targets = seed_phase(
                    database_url, sim, phase=f"{phase}-drain", count=n, projects=1
                )
                seeded_all += warm_seeded + seeded + drain_seeded
                plan.append((latency_ms, count, warm, targets, drain_targets))
        sim.reset_stats()
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            api_port=common.free_port(),
        )
        api_service, api = common.start_api(stack, work, env)
        env.setdefault("DBAAS_QUEUE_NAME", "dbaas-operations")
        api_of = (api, api_service.pid)
        created: dict[str, int] = {}
        for latency_ms, count, warm, targets, drain_targets in plan:
            set_latency(sim, latency_ms / 1000)
            with contextlib.ExitStack() as local:
                workers = start_workers(local, work, env, count, f"l{latency_ms:g}")
                common.say(f"{count} worker(s), {latency_ms:g} ms: {len(targets)} operations")
                result = run_one(api_of, sim, workers, warm, targets, drain_targets, env=env)
            created |= result.pop("created")
            result["latency_ms"] = latency_ms
            common.say(
                f"  drain {result['drain_per_s']:,.1f}, end to end {result['per_s']:,.1f}"
                " operations/s"
            )
            results.append(result)
        set_latency(sim, 0.0)
        # warm-ups included: their OpsRequests were counted before each reset
        checked = verify_targets(database_url, seeded_all, sim, created)
    report(args, results, checked, load=(load_before, os.getloadavg()[0]))
    return 0


def verify_targets(
    database_url: str,
    seeded: list[seeding.Seeded],
    sim: common.Sim,
    created: dict[str, int],
) -> dict[str, int]:
    """operations_throughput's check over the timed databases (the warm-up ones were
    counted before the sim's counters were reset, so only the timed ones are checked)."""
    timed = [s for s in seeded if "-warm" not in s.namespace]
    return verify(database_url, timed, created)


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    checked: dict[str, int],
    *,
    load: tuple[float, float],
) -> None:
    baseline = {r["latency_ms"]: r["per_s"] for r in results if r["workers"] == 1}
    drain_baseline = {r["latency_ms"]: r["drain_per_s"] for r in results if r["workers"] == 1}
    rows = []
    for r in results:
        r["ratio"] = common.ratio(r["per_s"], baseline[r["latency_ms"]])
        r["drain_ratio"] = common.ratio(r["drain_per_s"], drain_baseline[r["latency_ms"]])
        rows.append(
            [
                f"{r['latency_ms']:g} ms",
                r["workers"],
                r["operations"],
                r["drain_per_s"],
                r["drain_ratio"],
                r["per_s"],
                r["ratio"],
                r["worker_cpu_ms_per_operation"],
                r["worker_cpu_share"],
                r["api_cpu_ms_per_operation"]
                + r["sim_cpu_ms_per_operation"]
                + r["postgres_cpu_ms_per_operation"],
                r["all_cpu_share"],
                r["rss_mib_per_worker"],
                r["pss_mib_per_worker"],
            ]
        )
    print(
        f"worker processes: end to end operations/s (PATCH replicas -> OpsRequest), 8 client"
        f" threads, one `dbaas api`; load average {load[0]:.1f} before, {load[1]:.1f} after"
        f" ({os.cpu_count()} CPUs)"
    )
    print(
        common.format_table(
            [
                "latency",
                "workers",
                "ops",
                "drain ops/s",
                "x 1 worker",
                "end-to-end ops/s",
                "x 1 worker",
                "worker CPU ms/op",
                "worker CPUs busy",
                "API+sim+PG CPU ms/op",
                "all CPUs busy",
                "RSS MiB/worker",
                "PSS MiB/worker",
            ],
            rows,
        )
    )
    print(
        f"checked: {checked['databases']} databases, each one scale operation and one"
        f" OpsRequest created once ({checked['ops_requests']} in all)"
    )
    at_latency = [r for r in results if r["latency_ms"] >= 50 and r["workers"] == 4]
    verdict = {}
    for r in at_latency:
        for mode, key in (("end to end", "ratio"), ("drain", "drain_ratio")):
            met = r[key] >= TARGET_AT_LATENCY
            verdict[f"{r['latency_ms']:g}ms {mode}"] = met
            print(
                f"{r['latency_ms']:g} ms, {mode}: 4 workers / 1 worker = {r[key]:.2f};"
                f" target >= {TARGET_AT_LATENCY:g}: {'met' if met else 'MISSED'}"
            )
    figures = {
        "runs": results,
        "target_4_workers_at_50ms": TARGET_AT_LATENCY,
        "met": verdict,
        "checked_databases": checked["databases"],
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
        "quick": args.quick,
    }
    print(common.json_line("worker_scaling", figures))


if __name__ == "__main__":
    sys.exit(main())

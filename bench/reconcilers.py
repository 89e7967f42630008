"""Benchmark: the reconcilers at 10,000 databases.

    .venv/bin/python bench/reconcilers.py [--databases 10000] [--changes 200]

A throwaway database holds one project with N ready postgres databases (COPY, each with a
succeeded create operation) and the simulated cluster holds their CRs (as the worker would
have created them). Then:

1. `dbaas status-sync` starts as a subprocess; figure: seconds until every row shows the
   cluster's phase (initial list of N CRs + status writes).
2. Status propagation latency: M phase changes in the cluster (`/sim/phase`, alternately
   Critical and back to Ready on M/2 databases), each timed from the admin call until the
   database row (what the API serves) shows the new phase; p50, p90, p99, max.
3. Drift passes (the `drift` program's cycle, in-process, against the same cluster): a
   clean pass, then a pass after 5 out-of-band edits; figures: duration and the number of
   Kubernetes requests the pass made: the list (and get) requests of the database kinds in
   the sim's own request counters, which must show no GET of a single database (status-sync
   runs meanwhile; its watch requests are reported apart).
4. Drift from the watch stream: `dbaas drift` as a subprocess (pass interval 1 hour, so
   only its watch can find an edit once its first pass is done), then `--watch-edits`
   out-of-band edits (`/sim/edit` replicas 2) of distinct databases, one after another, each
   timed from the admin call until its correction operation (origin drift) is in
   PostgreSQL; p50, p90, p99, max. Target (issue 19): p99 <= 2 s.

Progress goes to stderr; stdout gets a table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, seeding
from services.clients import kube, postgres
from services.clients import queue as queue_client
from services.domain.resources import database_resources
from services.reconcilers.drift.loop import DriftDetector

PROJECT = "bench"
EDITS = 5
DB_PLURALS = [resource.plural for resource in database_resources()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", type=int, default=10_000, help="databases (10000)")
    parser.add_argument("--changes", type=int, default=200, help="phase changes timed (200)")
    parser.add_argument(
        "--watch-edits", type=int, default=100, help="edits drift finds from its watch (100)"
    )
    return parser.parse_args()


def count_phase(database_url: str, phase: str) -> int:
    with postgres.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) AS n FROM databases WHERE phase = %s", (phase,))
        found = row.fetchone()
    return int(found["n"]) if found else 0


def propagation(
    sim: common.Sim, database_url: str, seeded: seeding.Seeded, changes: int, alive: Any
) -> list[float]:
    """Seconds from each phase change in the cluster until the row shows it."""
    latencies: list[float] = []
    step = max(1, len(seeded.ids) // max(1, changes // 2))
    with postgres.connect(database_url, autocommit=True) as conn:
        for i in range(changes):
            index = (i // 2) * step % len(seeded.ids)
            db_id, name = seeded.ids[index], seeded.names[index]
            phase = "Critical" if i % 2 == 0 else "Ready"
            body = {"resource": "postgreses", "namespace": seeded.namespace, "name": name}
            started = time.monotonic()
            common.http_json(sim.url + "/sim/phase", method="POST", body=body | {"phase": phase})
            deadline = started + 30
            while True:
                row = conn.execute("SELECT phase FROM databases WHERE id = %s", (db_id,))
                found = row.fetchone()
                if found and found["phase"] == phase:
                    latencies.append(time.monotonic() - started)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: phase {phase} did not reach the row in 30 s")
                alive()
                time.sleep(0.001)
    return latencies


def drift_operations(conn: postgres.Connection, db_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM operations WHERE database_id = %s AND origin = 'drift'",
        (db_id,),
    ).fetchone()
    return int(row["n"]) if row else 0


def watched_edits(
    sim: common.Sim,
    database_url: str,
    seeded: seeding.Seeded,
    indexes: range,
    drift: common.Service,
) -> list[float]:
    """Seconds from each out-of-band edit until drift's correction operation exists."""
    latencies: list[float] = []
    with postgres.connect(database_url, autocommit=True) as conn:
        for index in indexes:
            db_id, name = seeded.ids[index], seeded.names[index]
            before = drift_operations(conn, db_id)
            body = {"resource": "postgreses", "namespace": seeded.namespace, "name": name}
            started = time.monotonic()
            common.http_json(
                sim.url + "/sim/edit",
                method="POST",
                body=body | {"patch": {"spec": {"replicas": 2}}},
            )
            deadline = started + 60
            while drift_operations(conn, db_id) == before:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: no drift operation within 60 s")
                drift.check_alive()
                time.sleep(0.002)
            latencies.append(time.monotonic() - started)
    return latencies


def drift_pass(detector: DriftDetector, sim: common.Sim) -> dict[str, Any]:
    common.http_json(sim.url + "/sim/stats", method="DELETE")
    started = time.monotonic()
    outcome = detector.run_cycle()
    seconds = time.monotonic() - started
    requests: dict[str, dict[str, int]] = sim.stats()["requests"]
    lists = sum(requests.get("list", {}).get(plural, 0) for plural in DB_PLURALS)
    gets = sum(requests.get("get", {}).get(plural, 0) for plural in DB_PLURALS)
    total = sum(n for per_verb in requests.values() for n in per_verb.values())
    common.say(outcome)
    return {
        "seconds": seconds,
        "kubernetes_requests": lists + gets,
        "lists": lists,
        "gets": gets,
        "counted_by_the_pass": detector.last_requests,
        "all_cluster_requests_meanwhile": total,
        "outcome": outcome,
    }


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        database_url = stack.enter_context(common.throwaway_database())
        redis_url = stack.enter_context(common.benchmark_redis())
        sim = common.start_sim(stack, work, provision_delay=0.05, ops_step_delay=0.05)
        common.say(f"seeding {args.databases} databases in PostgreSQL and in the cluster")
        seeded = seeding.insert_databases(database_url, project=PROJECT, count=args.databases)
        seeding.create_crs(sim, seeded)
        common.wait_until(
            "the sim to report every database Ready",
            lambda: sim.object_count("postgreses") >= args.databases,
            timeout=300,
        )
        env = common.dbaas_env(
            home=work, database_url=database_url, redis_url=redis_url, kubeconfig=sim.kubeconfig
        )
        started = time.monotonic()
        sync = common.start_service(
            stack, "status-sync", common.dbaas_command("status-sync"), env=env, workdir=work
        )
        initial = common.wait_until(
            f"status-sync to record {args.databases} Ready databases",
            lambda: count_phase(database_url, "Ready") >= args.databases,
            timeout=600,
            interval=0.2,
            alive=sync.check_alive,
        )
        common.say(f"initial sync of {args.databases} in {time.monotonic() - started:.1f}s")
        latencies = propagation(sim, database_url, seeded, args.changes, sync.check_alive)
        summary = common.summarize(latencies)
        common.say(f"propagation p50 {summary.p50_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms")

        pool = postgres.create_pool(database_url, name="bench-drift", max_size=2)
        stack.callback(pool.close)
        cluster = kube.KubeClient(kube.load_api_client(str(sim.kubeconfig)))
        stack.callback(cluster.close)
        redis_conn = queue_client.connect(redis_url)
        stack.callback(redis_conn.close)
        detector = DriftDetector(
            pool=pool,
            cluster=cluster,
            queue=queue_client.operation_queue(redis_conn, "bench-drift"),
            interval_seconds=60,
        )
        clean = drift_pass(detector, sim)
        for name in seeded.names[:EDITS]:
            body = {"resource": "postgreses", "namespace": seeded.namespace, "name": name}
            common.http_json(
                sim.url + "/sim/edit",
                method="POST",
                body=body | {"patch": {"spec": {"replicas": 2}}},
            )
        edited = drift_pass(detector, sim)
        sync.check_alive()

        common.say("dbaas drift: its first pass, then edits found from its watch")
        drift_env = env | {"DBAAS_DRIFT_INTERVAL_SECONDS": "3600"}
        drift = common.start_service(
            stack, "drift", common.dbaas_command("drift"), env=drift_env, workdir=work
        )
        common.wait_until(
            "dbaas drift's first pass",
            lambda: " checked, " in drift.log.read_text(errors="replace"),
            timeout=300,
            interval=0.2,
            alive=drift.check_alive,
        )
        edits = range(EDITS, min(len(seeded.ids), EDITS + args.watch_edits))
        watched = common.summarize(watched_edits(sim, database_url, seeded, edits, drift))
        common.say(f"edit -> correction p50 {watched.p50_ms:.0f} ms, p99 {watched.p99_ms:.0f} ms")
        memory = common.tree_memory(drift.pid)

    rows = [
        ["status-sync initial sync", "seconds", initial],
        ["status propagation", "p50 ms", summary.p50_ms],
        ["status propagation", "p90 ms", summary.p90_ms],
        ["status propagation", "p99 ms", summary.p99_ms],
        ["status propagation", "max ms", summary.max_ms],
        ["drift pass (clean)", "seconds", clean["seconds"]],
        ["drift pass (clean)", "k8s requests", clean["kubernetes_requests"]],
        [f"drift pass ({EDITS} edits)", "seconds", edited["seconds"]],
        [f"drift pass ({EDITS} edits)", "k8s requests", edited["kubernetes_requests"]],
        [f"drift watch: edit -> correction ({watched.count})", "p50 ms", watched.p50_ms],
        [f"drift watch: edit -> correction ({watched.count})", "p90 ms", watched.p90_ms],
        [f"drift watch: edit -> correction ({watched.count})", "p99 ms", watched.p99_ms],
        [f"drift watch: edit -> correction ({watched.count})", "max ms", watched.max_ms],
        ["dbaas drift RSS after the edits", "MiB", memory.rss_mib],
    ]
    print(f"reconcilers at {args.databases} databases, {summary.count} status changes")
    print(common.format_table(["measure", "unit", "value"], rows))
    print(
        common.json_line(
            "reconcilers",
            {
                "databases": args.databases,
                "initial_sync_seconds": initial,
                "propagation": summary,
                "drift_clean": clean,
                "drift_edited": edited,
                "drift_watch_edit_to_correction": watched,
                "drift_rss_mib": memory.rss_mib,
            },
        )
    )
    if clean["gets"] or edited["gets"]:
        common.say("drift made GET requests of single objects: that is a regression")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

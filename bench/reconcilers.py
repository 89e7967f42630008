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
2b. At `--change-rate` changes/s for `--change-seconds` (distinct databases, open loop),
   and after a forced 410 Gone (`/sim/compact`) plus one change: seconds until its row
   shows it (status-sync re-lists everything; issue 19: resync after a 410 <= 10 s).
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
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, profiling, seeding
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
    parser.add_argument(
        "--change-rate",
        type=int,
        default=1000,
        help="phase changes per second of the rate phase, on distinct databases (1000)",
    )
    parser.add_argument(
        "--change-seconds", type=float, default=10.0, help="how long the rate phase runs (10)"
    )
    parser.add_argument(
        "--seed-cache",
        type=Path,
        default=None,
        help="keep the seeded cluster here and load it in later runs (seeding.seeded_cluster)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy status-sync, drift and the sim during the initial sync and the clean"
        " drift pass; collapsed stacks into this directory",
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


def propagation_at_rate(
    sim: common.Sim,
    database_url: str,
    seeded: seeding.Seeded,
    *,
    rate: int,
    seconds: float,
    alive: Any,
) -> tuple[list[float], float]:
    """Seconds from each phase change until its row shows it, while `rate` databases a
    second change phase (each once, Ready -> Critical), and the rate achieved.

    Open loop: a sender thread posts a batch of changes (`/sim/phase` with "names") every
    TICK seconds at its due time, and each change is timed from that due time, so a sender
    or sim that falls behind adds its delay. This thread polls PostgreSQL every POLL
    seconds for the rows not yet showing their change (one query over those ids): a
    latency is known to within one poll."""
    tick, poll = 0.01, 0.01
    per_tick = max(1, round(rate * tick))
    total = min(len(seeded.ids), int(rate * seconds))
    due: dict[uuid.UUID, float] = {}
    lock = threading.Lock()
    failures: list[str] = []
    finished: list[float] = []
    start = time.monotonic() + 0.5

    def send() -> None:
        for batch, offset in enumerate(range(0, total, per_tick)):
            moment = start + batch * tick
            time.sleep(max(0.0, moment - time.monotonic()))
            names = seeded.names[offset : offset + per_tick]
            with lock:
                for db_id in seeded.ids[offset : offset + per_tick]:
                    due[db_id] = moment
            body = {"resource": "postgreses", "namespace": seeded.namespace, "names": names}
            try:
                common.http_json(
                    sim.url + "/sim/phase", method="POST", body=body | {"phase": "Critical"}
                )
            except Exception as error:  # reported after the run
                failures.append(str(error))
                return
        finished.append(time.monotonic())

    sender = threading.Thread(target=send, name="bench-phase-sender", daemon=True)
    sender.start()
    latencies: list[float] = []
    with postgres.connect(database_url, autocommit=True) as conn:
        while sender.is_alive() or len(latencies) < total:
            with lock:
                waiting = dict(due)
            if waiting:
                rows = conn.execute(
                    "SELECT id FROM databases WHERE id = ANY(%s) AND phase = 'Critical'",
                    (list(waiting),),
                ).fetchall()
                seen = time.monotonic()
                with lock:
                    for row in rows:
                        latencies.append(seen - due.pop(row["id"]))
            if failures:
                raise RuntimeError(f"phase changes failed: {failures[0]}")
            if waiting and time.monotonic() - min(waiting.values()) > 60:
                raise TimeoutError("a phase change did not reach its row in 60 s")
            alive()
            time.sleep(poll)
    return latencies, total / max(1e-9, finished[0] - start)


def resync_after_gone(
    sim: common.Sim, database_url: str, seeded: seeding.Seeded, alive: Any
) -> float:
    """Seconds from a forced 410 (`/sim/compact`: history forgotten, every watch ended with
    410 Gone) plus a phase change made right after it, until the row shows the change: the
    watch cannot resume, so status-sync re-lists everything and finds the change in the
    new list (or in the watch that follows it)."""
    db_id, name = seeded.ids[-1], seeded.names[-1]
    with postgres.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT phase FROM databases WHERE id = %s", (db_id,)).fetchone()
        phase = "Ready" if row and row["phase"] == "Critical" else "Critical"
        body = {"resource": "postgreses", "namespace": seeded.namespace, "name": name}
        started = time.monotonic()
        common.http_json(sim.url + "/sim/compact", method="POST", body={})
        common.http_json(sim.url + "/sim/phase", method="POST", body=body | {"phase": phase})
        deadline = started + 300
        while True:
            row = conn.execute("SELECT phase FROM databases WHERE id = %s", (db_id,)).fetchone()
            if row and row["phase"] == phase:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: phase {phase} not recorded 300 s after a 410")
            alive()
            time.sleep(0.05)


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


def drift_pass(
    detector: DriftDetector, sim: common.Sim, profile: Path | None = None
) -> dict[str, Any]:
    common.http_json(sim.url + "/sim/stats", method="DELETE")
    with contextlib.ExitStack() as spies:
        if profile is not None:
            spies.enter_context(profiling.record(os.getpid(), profile / "drift-pass.txt"))
            spies.enter_context(profiling.record(sim.service.pid, profile / "sim-drift.txt"))
            time.sleep(1)  # py-spy attached
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
        common.say(f"seeding {args.databases} databases in PostgreSQL and in the cluster")
        sim, seeded = seeding.seeded_cluster(
            stack,
            work,
            database_url,
            project=PROJECT,
            count=args.databases,
            cache=args.seed_cache,
            provision_delay=0.05,
            ops_step_delay=0.05,
        )
        env = common.dbaas_env(
            home=work, database_url=database_url, redis_url=redis_url, kubeconfig=sim.kubeconfig
        )
        sim_cpu = common.tree_cpu_seconds(sim.service.pid)
        started = time.monotonic()
        sync = common.start_service(
            stack, "status-sync", common.dbaas_command("status-sync"), env=env, workdir=work
        )
        with contextlib.ExitStack() as spies:
            if args.profile is not None:
                spies.enter_context(
                    profiling.record(sync.pid, args.profile / "status-sync-initial.txt")
                )
                spies.enter_context(
                    profiling.record(sim.service.pid, args.profile / "sim-initial.txt")
                )
            initial = common.wait_until(
                f"status-sync to record {args.databases} Ready databases",
                lambda: count_phase(database_url, "Ready") >= args.databases,
                timeout=1200,
                interval=0.2,
                alive=sync.check_alive,
            )
        initial_cpu = {
            "status_sync": common.tree_cpu_seconds(sync.pid),
            "sim": common.tree_cpu_seconds(sim.service.pid) - sim_cpu,
            "postgresql_backends": sum(
                common.tree_cpu_seconds(pid) for pid in common.database_backends(database_url)
            ),
        }
        common.say(f"initial sync of {args.databases} in {time.monotonic() - started:.1f}s")
        common.say(f"CPU seconds meanwhile: {initial_cpu}")
        latencies = propagation(sim, database_url, seeded, args.changes, sync.check_alive)
        summary = common.summarize(latencies)
        common.say(f"propagation p50 {summary.p50_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms")
        rated: common.LatencySummary | None = None
        if args.change_rate > 0:
            common.say(f"{args.change_rate} phase changes/s for {args.change_seconds:.0f}s")
            at_rate, sent_rate = propagation_at_rate(
                sim,
                database_url,
                seeded,
                rate=args.change_rate,
                seconds=args.change_seconds,
                alive=sync.check_alive,
            )
            rated = common.summarize(at_rate)
            common.say(
                f"at {sent_rate:.0f}/s: p50 {rated.p50_ms:.0f} ms, p99 {rated.p99_ms:.0f} ms"
            )
        else:
            sent_rate = 0.0
        resync = resync_after_gone(sim, database_url, seeded, sync.check_alive)
        common.say(f"410 Gone + a change -> its row: {resync:.1f}s (a full re-list)")

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
        clean = drift_pass(detector, sim, args.profile)
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
        *(
            [
                [
                    f"propagation at {sent_rate:.0f} changes/s ({rated.count})",
                    "p50 ms",
                    rated.p50_ms,
                ],
                [
                    f"propagation at {sent_rate:.0f} changes/s ({rated.count})",
                    "p99 ms",
                    rated.p99_ms,
                ],
                [
                    f"propagation at {sent_rate:.0f} changes/s ({rated.count})",
                    "max ms",
                    rated.max_ms,
                ],
            ]
            if rated is not None
            else []
        ),
        ["status-sync: 410 Gone + a change -> its row", "seconds", resync],
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
                "initial_sync_cpu_seconds": initial_cpu,
                "propagation": summary,
                "propagation_at_rate": rated,
                "resync_after_gone_seconds": resync,
                "change_rate_sent": sent_rate if rated is not None else None,
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

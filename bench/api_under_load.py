"""Benchmark 2: API latency while the worker and the reconcilers are busy, against idle.

    .venv/bin/python bench/api_under_load.py [--quick]

A throwaway database holds one project with 10,000 ready databases (COPY), and the
simulated cluster their CRs; 1,000 more databases are requested through the control use
case (one transaction each, as the API does) but not yet enqueued. The API (`dbaas api`)
answers `GET /v1/databases/{id}` at a fixed rate (open loop, bench/loadgen.py) for the
whole run:

- idle: only the API runs (20 s), and again after the loaded phase (10 s, the other
  programs running but idle): both windows together, so a shared machine's drift weighs on
  both sides of the ratio;
- loaded: the 1,000 create operations are enqueued and `dbaas worker`, `dbaas status-sync`
  and `dbaas drift` start: the worker drains the burst, status-sync records the status of
  all 11,000 databases (the first sync) and completes the operations, drift compares
  10,000 databases with the cluster. The phase ends when every burst operation is
  terminal, every database has been synced and drift has finished a pass.

The figure is p99(loaded) / p99(idle) (target <= 2). When a reconciler cannot run, the
loaded phase is measured without it and the output says so.

The reference (unless --no-baseline): bench/baseline_app.py, the bare Starlette + Hypercorn
+ psycopg app of benchmark 1 serving the same GET with the same query, is driven at the
same rate by a second client (half an interval out of step with the first) through both
phases. Its ratio is what the same load does to an endpoint with nothing of dbaas in it:
the part of the API's ratio that the machine, not the API, sets.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, loadgen, seeding
from services.clients import postgres

PROJECT = "bench"
TARGET_RATIO = 2.0
RECONCILERS = ("status-sync", "drift")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 databases, 200 operations")
    parser.add_argument("--databases", type=int, default=None, help="seeded (10,000)")
    parser.add_argument("--operations", type=int, default=None, help="the burst (1,000)")
    parser.add_argument("--rate", type=float, default=100.0, help="API requests/s (100)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle phase (20)")
    parser.add_argument(
        "--background-nice",
        type=int,
        default=0,
        help="what-if: run the worker and the reconcilers under `nice -n N` (default 0: as"
        " supervisord.conf runs them today)",
    )
    parser.add_argument(
        "--background-policy",
        choices=("batch", "idle"),
        default=None,
        help="what-if: run the worker and the reconcilers under `chrt --batch 0` or"
        " `chrt --idle 0` (Linux SCHED_BATCH / SCHED_IDLE: no privilege needed)",
    )
    parser.add_argument(
        "--background-backends-idle",
        action="store_true",
        help="what-if: also put the PostgreSQL backends serving the worker and the"
        " reconcilers (application_name dbaas-worker*, -status-sync, -drift) at SCHED_IDLE"
        " (needs root or the postgres user)",
    )
    parser.add_argument(
        "--sim-nice",
        type=int,
        default=0,
        help="what-if: run the simulated cluster under `nice -n N` (it stands in for a"
        " cluster that runs elsewhere; here it shares the two cores with the pod)",
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="do not run the bare baseline app next to the API (the reference ratio)",
    )
    args = parser.parse_args()
    args.databases = args.databases or (1_000 if args.quick else 10_000)
    args.operations = args.operations or (200 if args.quick else 1_000)
    args.idle_seconds = args.idle_seconds or (8.0 if args.quick else 20.0)
    return args


def idle_background_backends(database_url: str, done: set[int]) -> None:
    """chrt --idle the PostgreSQL backends of the worker and the reconcilers (the what-if)."""
    with postgres.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'dbaas-worker%'"
            " OR application_name IN ('dbaas-status-sync', 'dbaas-drift')"
        ).fetchall()
    for row in rows:
        if row["pid"] not in done:
            subprocess.run(["chrt", "--idle", "-p", "0", str(row["pid"])], check=False)
            done.add(row["pid"])


def drift_passes(service: common.Service) -> int:
    text = service.log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if "drift: " in line and " checked" in line)


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())  # first: it may wait
        database_url = stack.enter_context(common.throwaway_database())
        sim = common.start_sim(
            stack, work, provision_delay=0.2 if args.quick else 1.0, nice=args.sim_nice
        )
        common.say(f"seeding {args.databases} databases in PostgreSQL and in the cluster")
        seeded = seeding.insert_databases(database_url, project=PROJECT, count=args.databases)
        seeding.create_crs(sim, seeded)
        common.wait_until(
            "the sim provisioning the seeded databases",
            lambda: sim.stats()["operator_tasks"] == 0,
            timeout=300,
            interval=0.5,
        )
        operation_ids = seeding.create_burst(database_url, project=PROJECT, count=args.operations)
        key = common.create_api_key(database_url, project=PROJECT, role="viewer")
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            api_port=common.free_port(),
        )
        _, api = common.start_api(stack, work, env)
        paths = [f"/v1/databases/{db_id}" for db_id in seeded.ids]
        first_due = time.monotonic() + 1.0
        clients = {
            "api": loadgen.FixedRateClient(
                api,
                paths,
                rate=args.rate,
                headers={"Authorization": f"Bearer {key}"},
                start=first_due,
            )
        }
        if args.baseline:
            baseline, _ = common.start_baseline(stack, work, database_url, project=PROJECT)
            clients["baseline"] = loadgen.FixedRateClient(
                baseline, paths, rate=args.rate, start=first_due + 0.5 / args.rate
            )
        for client in clients.values():
            stack.enter_context(client)
        time.sleep(2.0)  # the client's connections and the API's pool warm up
        idle_start = time.monotonic()
        common.say(f"idle: {args.rate:.0f} GET/s for {args.idle_seconds:.0f}s")
        time.sleep(args.idle_seconds)
        load_start = time.monotonic()
        common.say(f"loaded: {args.operations} operations enqueued; worker and reconcilers start")
        seeding.enqueue(redis_url, operation_ids)
        nice = ["nice", "-n", str(args.background_nice)] if args.background_nice else []
        if args.background_policy:
            nice = [*nice, "chrt", f"--{args.background_policy}", "0"]
        worker = common.start_service(
            stack, "worker", [*nice, *common.dbaas_command("worker")], env=env, workdir=work
        )
        reconcilers = {
            name: common.start_service(
                stack, name, [*nice, *common.dbaas_command(name)], env=env, workdir=work
            )
            for name in RECONCILERS
        }
        absent: dict[str, str] = {}

        idled: set[int] = set()

        def done() -> bool:
            if args.background_backends_idle:
                idle_background_backends(database_url, idled)
            worker.check_alive()
            for name, service in reconcilers.items():
                if name not in absent and service.process.poll() is not None:
                    absent[name] = f"exited with {service.process.returncode}: " + common.tail(
                        service.log, 5
                    )
                    common.say(f"{name} is not runnable: {absent[name]}")
            state = seeding.progress(database_url, operation_ids)
            finished = state["open_operations"] == 0
            if "status-sync" not in absent:
                finished = finished and state["unsynced"] == 0
            if "drift" not in absent:
                finished = finished and drift_passes(reconcilers["drift"]) >= 1
            return finished

        loaded_seconds = common.wait_until("the loaded phase", done, timeout=600, interval=0.5)
        load_end = time.monotonic()
        common.say(f"idle again (programs idle) for {args.idle_seconds / 2:.0f}s")
        time.sleep(args.idle_seconds / 2)
        for client in clients.values():
            client.stop()
    # idle = before AND after the load, so a drift of the shared machine weighs on both sides
    end = time.monotonic()
    phases = {
        name: Phases(
            idle=client.between(idle_start, load_start) + client.between(load_end + 1, end),
            loaded=client.between(load_start, load_end),
            errors=client.errors,
        )
        for name, client in clients.items()
    }
    report(
        args,
        phases,
        loaded_seconds=loaded_seconds,
        absent=absent,
        load=(load_before, os.getloadavg()[0]),
    )
    return 0


@dataclasses.dataclass
class Phases:
    """One client's samples, cut into the two phases."""

    idle: list[loadgen.Sample]
    loaded: list[loadgen.Sample]
    errors: int

    def summaries(self) -> dict[str, common.LatencySummary]:
        return {
            "idle": common.summarize([s.latency for s in self.idle]),
            "loaded": common.summarize([s.latency for s in self.loaded]),
        }

    def non_200(self) -> dict[str, int]:
        return {
            "idle": sum(1 for s in self.idle if s.status != 200),
            "loaded": sum(1 for s in self.loaded if s.status != 200),
        }


def report(
    args: argparse.Namespace,
    phases: dict[str, Phases],
    *,
    loaded_seconds: float,
    absent: dict[str, str],
    load: tuple[float, float],
) -> None:
    summaries = {name: p.summaries() for name, p in phases.items()}
    ratios = {
        name: common.ratio(s["loaded"].p99_ms, s["idle"].p99_ms) for name, s in summaries.items()
    }
    ratio = ratios["api"]
    met = ratio <= TARGET_RATIO
    rows = []
    for name, by_phase in summaries.items():
        bad = phases[name].non_200()
        for phase, s in by_phase.items():
            rows.append([name, phase, s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, bad[phase]])
    present = [name for name in RECONCILERS if name not in absent]
    print(
        f"GET /v1/databases/{{id}} at {args.rate:.0f}/s (open loop) per server,"
        f" {args.databases} databases;"
        f" loaded = worker draining {args.operations} creates"
        + (f" + {' + '.join(present)}" if present else "")
        + f" for {loaded_seconds:.1f}s"
        + (f" (background at nice {args.background_nice})" if args.background_nice else "")
        + (f" (background {args.background_policy})" if args.background_policy else "")
        + (f" (sim at nice {args.sim_nice})" if args.sim_nice else "")
        + (" (their backends SCHED_IDLE)" if args.background_backends_idle else "")
        + f"; load average {load[0]:.1f} before, {load[1]:.1f} after"
        f" ({os.cpu_count()} CPUs)"
    )
    for name, why in absent.items():
        print(f"NOTE: {name} load was ABSENT ({why.splitlines()[0]})")
    print(
        common.format_table(
            ["server", "phase", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-200"],
            rows,
        )
    )
    verdict = "met" if met else "MISSED"
    print(f"api: p99 loaded / idle = {ratio:.2f}; target <= {TARGET_RATIO:.1f}: {verdict}")
    if "baseline" in ratios:
        print(
            f"baseline (bare Starlette + Hypercorn + psycopg, same query, same load):"
            f" p99 loaded / idle = {ratios['baseline']:.2f};"
            f" api ratio / baseline ratio = {common.ratio(ratio, ratios['baseline']):.2f}"
        )
    figures = {
        "databases": args.databases,
        "operations": args.operations,
        "rate": args.rate,
        "idle": summaries["api"]["idle"],
        "loaded": summaries["api"]["loaded"],
        "loaded_seconds": loaded_seconds,
        "non_200": phases["api"].non_200(),
        "client_errors": phases["api"].errors,
        "reconcilers_present": present,
        "reconcilers_absent": sorted(absent),
        "background_nice": args.background_nice,
        "background_policy": args.background_policy,
        "sim_nice": args.sim_nice,
        "background_backends_idle": args.background_backends_idle,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": met,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
    }
    if "baseline" in summaries:
        figures |= {
            "baseline_idle": summaries["baseline"]["idle"],
            "baseline_loaded": summaries["baseline"]["loaded"],
            "baseline_non_200": phases["baseline"].non_200(),
            "baseline_client_errors": phases["baseline"].errors,
            "baseline_ratio": ratios["baseline"],
            "ratio_over_baseline_ratio": common.ratio(ratio, ratios["baseline"]),
        }
    print(common.json_line("api_under_load", figures))


if __name__ == "__main__":
    sys.exit(main())

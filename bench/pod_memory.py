"""Benchmark 5: the whole pod on the host: startup time to /readyz and memory, idle and loaded.

    make runtime-venv && .venv/bin/python bench/pod_memory.py [--quick]

The pod is what the container runs: the launcher (`python -m services.supervision.supervise
-c supervisord.conf`, supervisord in-process) with the repository's supervisord.conf and its
four programs, against the simulated cluster (outside the pod, not
counted) and a throwaway database holding 10,000 ready databases (their CRs in the sim).

- startup: from spawning the launcher to `/readyz` 200 (every program RUNNING, PostgreSQL
  and Redis reachable); also to `/healthz` 200 (the API serving). Target < 5 s.
- idle: after status-sync's first sync of every database and a drift pass, no requests;
  the median of samples every 0.5 s. Target < 300 MiB.
- loaded ("load 2", as bench/api_under_load.py): 1,000 create operations enqueued, the
  API answering 100 GET/s, until every operation is terminal; the peak. Target < 512 MiB.

Memory is the sum over the launcher and all its descendants of RSS (/proc/<pid>/status
VmRSS; pages shared between processes count once per process) and of PSS
(/proc/<pid>/smaps_rollup; shared pages split between their users: what the pod really
costs). The per-program breakdown at the loaded peak is printed too.

The pod's interpreter is `.venv-runtime/bin/python` (`make runtime-venv`): the image's
dependencies only. The development venv also holds the test extras, and the official
kubernetes client imports one of them (kubernetes-validate, with jsonschema) whenever it is
installed: ~4 MiB more in every program that talks to the cluster, which the container
does not have. `--python .venv/bin/python` measures the development venv instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, loadgen, seeding

PROJECT = "bench"
TARGET_STARTUP_S = 5.0
TARGET_IDLE_MIB = 300.0
TARGET_LOADED_MIB = 512.0
RUNTIME_PYTHON = common.REPO / ".venv-runtime" / "bin" / "python"
POD_STOP_SECONDS = 90.0  # terminationGracePeriodSeconds
SAMPLE_SECONDS = 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 databases, 200 operations")
    parser.add_argument("--databases", type=int, default=None, help="seeded (10,000)")
    parser.add_argument("--operations", type=int, default=None, help="the burst (1,000)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle sampling (10)")
    parser.add_argument("--rate", type=float, default=100.0, help="API GET/s when loaded (100)")
    parser.add_argument(
        "--seed-cache",
        type=Path,
        default=None,
        help="keep the seeded cluster here and load it in later runs (seeding.seeded_cluster)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="what-if: extra environment for the pod, e.g. DBAAS_API_WORKERS=2 or"
        " MALLOC_ARENA_MAX=2 (repeatable)",
    )
    parser.add_argument(
        "--startsecs",
        type=int,
        default=None,
        help="what-if: run a copy of supervisord.conf whose programs have this startsecs"
        " (supervisord reports a program RUNNING, which /readyz waits for, only after it)",
    )
    parser.add_argument(
        "--python",
        type=Path,
        default=RUNTIME_PYTHON,
        help="the pod's interpreter (.venv-runtime/bin/python: the image's dependencies)",
    )
    parser.add_argument(
        "--image",
        default=None,
        help="measure the container instead: `docker run --network host` of this image"
        " (e.g. dbaas:test, built by the container tests), read-only root and tmpfs as in"
        " deploy/; memory of its process tree read from the host's /proc",
    )
    args = parser.parse_args()
    if args.image is None and not args.python.exists():
        parser.exit(
            2,
            f"pod_memory: {args.python} is missing: run `make runtime-venv` (the image's"
            " dependencies only), or pass --python .venv/bin/python\n",
        )
    args.databases = args.databases or (1_000 if args.quick else 10_000)
    args.operations = args.operations or (200 if args.quick else 1_000)
    args.idle_seconds = args.idle_seconds or (5.0 if args.quick else 10.0)
    return args


def program_of(command_line: str) -> str:
    """Which part of the pod a process is, from its command line."""
    if "services.supervision.supervise" in command_line:
        return "supervisord (launcher)"
    if "resource_tracker" in command_line:
        return "api (multiprocessing tracker)"
    if "multiprocessing" in command_line or "spawn_main" in command_line:
        return "api (hypercorn worker)"
    for name in ("api", "worker", "status-sync", "drift"):
        if command_line.endswith(f" {name}") or f" {name} " in command_line:
            return name  # the api's forked workers too, if DBAAS_API_WORKERS >= 2
    return command_line[:40]


def breakdown(root: int) -> dict[str, common.Memory]:
    """Memory per program (summed over its processes)."""
    per: dict[str, list[int]] = {}
    for pid, command_line in common.process_names(common.process_tree(root)).items():
        per.setdefault(program_of(command_line), []).append(pid)
    result: dict[str, common.Memory] = {}
    for name, pids in sorted(per.items()):
        memories = [_single(pid) for pid in pids]
        result[name] = common.Memory(
            len(pids), sum(m.rss_mib for m in memories), sum(m.pss_mib for m in memories)
        )
    return result


def _single(pid: int) -> common.Memory:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return common.Memory(0, 0.0, 0.0)
    rss = common.parse_kib_fields(status, ["VmRSS"]).get("VmRSS", 0)
    pss = common.parse_kib_fields(rollup, ["Pss"]).get("Pss", 0)
    return common.Memory(1, rss / 1024, pss / 1024)


class Sampler:
    """Memory of the pod's process tree, sampled at most every SAMPLE_SECONDS (reading
    smaps_rollup takes the target's memory-map lock: polling it faster slows the pod), with
    a per-program breakdown at the peak, when asked for."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.samples: list[tuple[float, common.Memory]] = []
        self.track_breakdown = False
        self.peak_breakdown: dict[str, common.Memory] = {}
        self._peak_pss = -1.0

    def sample(self) -> None:
        if not self.root:  # the container's init is not known yet
            return
        now = time.monotonic()
        if self.samples and now - self.samples[-1][0] < SAMPLE_SECONDS:
            return
        memory = common.tree_memory(self.root)
        self.samples.append((now, memory))
        if self.track_breakdown and memory.pss_mib > self._peak_pss:
            self._peak_pss = memory.pss_mib
            self.peak_breakdown = breakdown(self.root)

    def between(self, start: float, end: float) -> list[common.Memory]:
        return [m for at, m in self.samples if start <= at <= end]


def sample_while(sampler: Sampler, condition: Any, *, timeout: float, alive: Any) -> float:
    start = time.monotonic()
    while not condition():
        alive()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not within {timeout:.0f}s")
        sampler.sample()
        time.sleep(SAMPLE_SECONDS)
    return time.monotonic() - start


def pod_log_count(pod: common.Service, text: str, also: str) -> int:
    lines = pod.log.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if text in line and also in line)


def supervisord_conf(work: Path, startsecs: int | None) -> str:
    """The repository's supervisord.conf, or a copy with another `startsecs` for the four
    programs (the what-if of --startsecs)."""
    if startsecs is None:
        return "supervisord.conf"
    text = (common.REPO / "supervisord.conf").read_text()
    copy = work / "supervisord.conf"
    # the [program:*] sections' lines only
    copy.write_text(
        re.sub(
            r"(?ms)^(\[program:[^\]]+\]$.*?^startsecs=)\d+$",
            lambda match: f"{match.group(1)}{startsecs}",
            text,
        )
    )
    return str(copy)


def start_pod(
    stack: contextlib.ExitStack, work: Path, env: dict[str, str], *, conf: str, python: Path
) -> tuple[common.Service, Sampler, float, float]:
    """The launcher, sampled from its spawn on; (service, sampler, seconds to /healthz 200,
    seconds to /readyz 200)."""
    base = f"http://127.0.0.1:{env['DBAAS_API_PORT']}"
    started = time.monotonic()
    command = [str(python), "-m", "services.supervision.supervise", "-c", conf]
    pod = common.start_service(stack, "pod", command, env=env, workdir=work)
    stack.callback(pod.stop, timeout=POD_STOP_SECONDS)
    sampler = Sampler(pod.pid)
    healthy: float | None = None

    def ready() -> bool:
        nonlocal healthy
        sampler.sample()
        if healthy is None and common.http_status(base + "/healthz", timeout=1) == 200:
            healthy = time.monotonic() - started
        return healthy is not None and common.http_status(base + "/readyz", timeout=3) == 200

    readiness = common.wait_until(
        "/readyz 200", ready, timeout=60, interval=0.05, alive=pod.check_alive
    )
    assert healthy is not None
    return pod, sampler, healthy, readiness


CONTAINER_USER = 10001  # the image's USER


def start_container(
    stack: contextlib.ExitStack,
    work: Path,
    env: dict[str, str],
    *,
    image: str,
    extra: dict[str, str],
) -> tuple[common.Service, Sampler, float, float]:
    """The image as deploy/ runs it (read-only root, tmpfs for DBAAS_HOME and /tmp), on the
    host's network; sampled from its init process (supervisord) on. Same tuple as
    `start_pod`; spawn is the `docker run`, so the engine's container start is counted."""
    name = f"dbaas-bench-{os.getpid()}"
    kubeconfig = work / "kubeconfig-for-container"
    kubeconfig.write_bytes(Path(env["DBAAS_KUBECONFIG"]).read_bytes())
    kubeconfig.chmod(0o644)  # the container's user is not the file's owner
    settings = {
        "DBAAS_DATABASE_URL": env["DBAAS_DATABASE_URL"],
        "DBAAS_REDIS_URL": env["DBAAS_REDIS_URL"],
        "DBAAS_KUBECONFIG": "/etc/dbaas/kubeconfig",
        "DBAAS_API_HOST": "127.0.0.1",
        "DBAAS_API_PORT": env["DBAAS_API_PORT"],
    } | extra
    command = [
        "docker", "run", "--rm", "--name", name, "--network", "host", "--read-only",
        "--tmpfs", f"/var/run/dbaas:uid={CONTAINER_USER},gid={CONTAINER_USER},mode=0700",
        "--tmpfs", f"/tmp:uid={CONTAINER_USER},gid={CONTAINER_USER},mode=1777",
        "--volume", f"{kubeconfig}:/etc/dbaas/kubeconfig:ro",
        *(part for key, value in settings.items() for part in ("--env", f"{key}={value}")),
        image,
    ]  # fmt: skip
    base = f"http://127.0.0.1:{env['DBAAS_API_PORT']}"
    started = time.monotonic()
    pod = common.start_service(stack, "pod", command, env=os.environ, workdir=work)
    stack.callback(
        subprocess.run, ["docker", "rm", "--force", name], capture_output=True, check=False
    )
    stack.callback(pod.stop, timeout=POD_STOP_SECONDS)
    sampler = Sampler(0)
    healthy: float | None = None

    def ready() -> bool:
        nonlocal healthy
        if not sampler.root:
            inspected = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.Pid}}", name],
                capture_output=True,
                text=True,
                check=False,
            )
            sampler.root = int(inspected.stdout.strip() or 0) if inspected.returncode == 0 else 0
        sampler.sample()
        if healthy is None and common.http_status(base + "/healthz", timeout=1) == 200:
            healthy = time.monotonic() - started
        return healthy is not None and common.http_status(base + "/readyz", timeout=3) == 200

    readiness = common.wait_until(
        "/readyz 200", ready, timeout=120, interval=0.05, alive=pod.check_alive
    )
    assert healthy is not None
    return pod, sampler, healthy, readiness


def burst_states(database_url: str, operation_ids: list[Any]) -> str:
    """How the burst's operations ended, e.g. "1000 succeeded"."""
    from services.clients import postgres

    with postgres.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT state, count(*) AS n FROM operations WHERE id = ANY(%s) GROUP BY state",
            (list(operation_ids),),
        ).fetchall()
    return ", ".join(f"{row['n']} {row['state']}" for row in rows)


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())  # first: it may wait
        database_url = stack.enter_context(common.throwaway_database())
        common.say(f"seeding {args.databases} databases in PostgreSQL and in the cluster")
        sim, seeded = seeding.seeded_cluster(
            stack,
            work,
            database_url,
            project=PROJECT,
            count=args.databases,
            cache=args.seed_cache,
            provision_delay=0.2 if args.quick else 1.0,
            ops_step_delay=0.5,
        )
        common.wait_until(
            "the sim provisioning the seeded databases",
            lambda: sim.stats()["operator_tasks"] == 0,
            timeout=300,
            interval=0.5,
        )
        operation_ids = seeding.create_burst(database_url, project=PROJECT, count=args.operations)
        key = common.create_api_key(database_url, project=PROJECT, role="viewer")
        home = work / "home"
        home.mkdir(mode=0o700)
        env = common.dbaas_env(
            home=home,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            api_port=common.free_port(),
        )
        env["PYTHONOPTIMIZE"] = "2"  # the image's ENV: supervisord itself without docstrings
        env |= dict(item.split("=", 1) for item in args.env)
        common.say("starting the pod (supervisord.conf)")
        conf = supervisord_conf(work, args.startsecs)
        if args.image:
            pod, sampler, healthz_s, readyz_s = start_container(
                stack, work, env, image=args.image, extra=dict(e.split("=", 1) for e in args.env)
            )
        else:
            pod, sampler, healthz_s, readyz_s = start_pod(
                stack, work, env, conf=conf, python=args.python
            )
        common.say(f"/healthz 200 after {healthz_s:.2f}s, /readyz 200 after {readyz_s:.2f}s")

        def settled() -> bool:
            unsynced = seeding.progress(database_url, [])["unsynced"]
            return unsynced <= args.operations and pod_log_count(pod, "drift: ", " checked") >= 1

        settle_s = readyz_s + sample_while(sampler, settled, timeout=300, alive=pod.check_alive)
        startup_peak = max(m.pss_mib for _, m in sampler.samples)
        common.say(f"first sync and drift pass done {settle_s:.1f}s after spawn; idle sampling")
        idle_start = time.monotonic()
        sample_while(
            sampler,
            lambda: time.monotonic() - idle_start >= args.idle_seconds,
            timeout=args.idle_seconds + 30,
            alive=pod.check_alive,
        )
        idle = sampler.between(idle_start, time.monotonic())
        idle_breakdown = breakdown(sampler.root)
        sampler.track_breakdown = True
        common.say(f"load 2: {args.operations} operations + {args.rate:.0f} GET/s")
        load_start = time.monotonic()
        seeding.enqueue(redis_url, operation_ids)
        base = f"http://127.0.0.1:{env['DBAAS_API_PORT']}"
        with loadgen.FixedRateClient(
            base,
            [f"/v1/databases/{db_id}" for db_id in seeded.ids],
            rate=args.rate,
            headers={"Authorization": f"Bearer {key}"},
        ):
            load_s = sample_while(
                sampler,
                lambda: seeding.progress(database_url, operation_ids)["open_operations"] == 0,
                timeout=600,
                alive=pod.check_alive,
            )
        loaded = sampler.between(load_start, time.monotonic())
        ended = burst_states(database_url, operation_ids)
        common.say(f"load 2 done after {load_s:.1f}s ({ended}); stopping the pod")
    report(
        args,
        healthz_s=healthz_s,
        readyz_s=readyz_s,
        settle_s=settle_s,
        startup_peak=startup_peak,
        idle=idle,
        loaded=loaded,
        load_s=load_s,
        idle_breakdown=idle_breakdown,
        peak_breakdown=sampler.peak_breakdown,
        load=(load_before, os.getloadavg()[0]),
    )
    return 0


def report(
    args: argparse.Namespace,
    *,
    healthz_s: float,
    readyz_s: float,
    settle_s: float,
    startup_peak: float,
    idle: list[common.Memory],
    loaded: list[common.Memory],
    load_s: float,
    idle_breakdown: dict[str, common.Memory],
    peak_breakdown: dict[str, common.Memory],
    load: tuple[float, float],
) -> None:
    idle_rss = common.median([m.rss_mib for m in idle])
    idle_pss = common.median([m.pss_mib for m in idle])
    peak_rss = max(m.rss_mib for m in loaded)
    peak_pss = max(m.pss_mib for m in loaded)
    processes = max(m.processes for m in loaded)
    met = {
        "startup": readyz_s < TARGET_STARTUP_S,
        "idle": idle_rss < TARGET_IDLE_MIB,
        "loaded": peak_rss < TARGET_LOADED_MIB,
    }
    print(
        f"whole pod (supervisord.conf, {processes} processes), {args.databases} databases,"
        f" load 2 = {args.operations} creates + {args.rate:.0f} GET/s for {load_s:.1f}s;"
        f" load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} CPUs)"
        + (f"; what-if env: {' '.join(args.env)}" if args.env else "")
        + (f"; what-if startsecs={args.startsecs}" if args.startsecs is not None else "")
        + (f"; image {args.image}" if args.image else f"; interpreter {args.python}")
    )
    rows: list[list[Any]] = [
        ["startup: spawn -> /healthz 200", "s", healthz_s, "", ""],
        [
            "startup: spawn -> /readyz 200",
            "s",
            readyz_s,
            f"< {TARGET_STARTUP_S:.0f}",
            met["startup"],
        ],
        ["spawn -> first sync + drift pass done", "s", settle_s, "", ""],
        ["spawn -> first sync + drift pass, peak PSS", "MiB", startup_peak, "", ""],
        ["idle, median RSS sum", "MiB", idle_rss, f"< {TARGET_IDLE_MIB:.0f}", met["idle"]],
        ["idle, median PSS sum", "MiB", idle_pss, "", ""],
        ["load 2, peak RSS sum", "MiB", peak_rss, f"< {TARGET_LOADED_MIB:.0f}", met["loaded"]],
        ["load 2, peak PSS sum", "MiB", peak_pss, "", ""],
    ]
    print(common.format_table(["measure", "unit", "value", "target", "met"], rows))
    print()
    names = sorted(set(idle_breakdown) | set(peak_breakdown))
    parts = [
        [
            name,
            peak_breakdown.get(name, idle_breakdown.get(name)).processes,  # type: ignore[union-attr]
            idle_breakdown[name].rss_mib if name in idle_breakdown else float("nan"),
            idle_breakdown[name].pss_mib if name in idle_breakdown else float("nan"),
            peak_breakdown[name].rss_mib if name in peak_breakdown else float("nan"),
            peak_breakdown[name].pss_mib if name in peak_breakdown else float("nan"),
        ]
        for name in names
    ]
    print(
        common.format_table(
            ["program", "procs", "idle RSS", "idle PSS", "peak RSS", "peak PSS"], parts
        )
    )
    figures = {
        "databases": args.databases,
        "operations": args.operations,
        "healthz_seconds": healthz_s,
        "readyz_seconds": readyz_s,
        "first_sync_seconds": settle_s,
        "idle_rss_mib": idle_rss,
        "idle_pss_mib": idle_pss,
        "loaded_peak_rss_mib": peak_rss,
        "loaded_peak_pss_mib": peak_pss,
        "first_sync_peak_pss_mib": startup_peak,
        "processes": processes,
        "extra_env": args.env,
        "startsecs": args.startsecs,
        "python": None if args.image else str(args.python),
        "image": args.image,
        "idle_by_program": idle_breakdown,
        "loaded_peak_by_program": peak_breakdown,
        "targets": {
            "readyz_seconds": TARGET_STARTUP_S,
            "idle_mib": TARGET_IDLE_MIB,
            "loaded_mib": TARGET_LOADED_MIB,
        },
        "met": met,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
    }
    print(common.json_line("pod_memory", figures))


if __name__ == "__main__":
    sys.exit(main())

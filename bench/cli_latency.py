"""Benchmark: `dbaas db list` as a whole process, next to `curl` doing the same request.

    .venv/bin/python bench/cli_latency.py [--quick] [--runs N] [--databases N]

A throwaway database holds one project with 20 databases (COPY) and an API key; `dbaas api`
serves it (no cluster: a list needs only PostgreSQL). Each round runs, one after another
and in a rotating order: the installed `dbaas db list` console script (interpreter start,
imports, one HTTP request, the rich table), `dbaas db list -o json`, `curl` fetching the
same first page, and `python -c pass` (the interpreter's own floor). Wall time of each
process from spawn to exit; the figure is the median over rounds (target: `dbaas db list`
< 300 ms), with p90 and the ratio to curl measured in the same rounds. Next to it the CPU
time the process used (user + system, from its rusage): on a shared machine wall time
mostly measures the other work, CPU time what the command itself costs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, seeding

PROJECT = "bench"
TARGET_MS = 300.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--runs", type=int, default=30, help="rounds (30)")
    parser.add_argument("--databases", type=int, default=20, help="databases listed (20)")
    return parser.parse_args()


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to exit and CPU seconds used; the command must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    args = parse_args()
    curl = shutil.which("curl")
    if curl is None:
        sys.exit("cli_latency: needs curl (apt-get install -y curl)")
    dbaas = str(Path(sys.executable).parent / "dbaas")
    runs = 5 if args.quick else args.runs
    common.install_signal_handlers()
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())
        database_url = stack.enter_context(common.throwaway_database())
        seeding.insert_databases(database_url, project=PROJECT, count=args.databases)
        key = common.create_api_key(database_url, project=PROJECT, role="viewer")
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=None,
            api_port=common.free_port(),
        )
        _, base = common.start_api(stack, work, env)
        client_env = {k: v for k, v in env.items() if not k.startswith("DBAAS_")}
        client_env |= {"DBAAS_URL": base, "DBAAS_API_KEY": key, "DBAAS_PROFILE": "/nonexistent"}
        commands = {
            "dbaas db list": [dbaas, "db", "list"],
            "dbaas db list -o json": [dbaas, "db", "list", "-o", "json"],
            "curl": [
                curl,
                "-sf",
                "-H",
                f"Authorization: Bearer {key}",
                f"{base}/v1/databases?limit=100",
            ],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        listed = subprocess.run(commands["dbaas db list"], env=client_env, capture_output=True)
        rows = listed.stdout.decode().splitlines()[2:]
        if listed.returncode != 0 or len(rows) != args.databases:
            raise RuntimeError(f"dbaas db list printed {len(rows)} rows: {listed.stderr!r}")
        for command in commands.values():  # warm the page cache and the API's pools
            timed(command, client_env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_index in range(runs):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                wall, used = timed(commands[name], client_env)
                samples[name].append(wall)
                cpu[name].append(used)
        table = []
        curl_median = common.median(samples["curl"])
        for name, values in samples.items():
            median = common.median(values)
            table.append(
                [
                    name,
                    median * 1000,
                    common.percentile(values, 90) * 1000,
                    common.ratio(median, curl_median),
                    common.median(cpu[name]) * 1000,
                ]
            )
        columns = ["command", "median ms", "p90 ms", "x curl", "CPU ms"]
        print(common.format_table(columns, table))
        headline = common.median(samples["dbaas db list"]) * 1000
        print(
            common.json_line(
                "cli_latency",
                {
                    "dbaas_db_list_median_ms": headline,
                    "target_ms": TARGET_MS,
                    "met": headline < TARGET_MS,
                    "medians_ms": {n: common.median(v) * 1000 for n, v in samples.items()},
                    "cpu_medians_ms": {n: common.median(v) * 1000 for n, v in cpu.items()},
                    "load_average_1m": os.getloadavg()[0],
                    "runs": runs,
                    "databases": args.databases,
                },
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

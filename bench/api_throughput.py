"""Benchmark 1: API read throughput against a bare Starlette + Hypercorn + psycopg baseline.

    .venv/bin/python bench/api_throughput.py [--quick] [--baseline async|sync]

A throwaway database holds one project with 10,000 databases (COPY) and an API key; the
API (`dbaas api` with DBAAS_API_WORKERS Hypercorn workers: 1, as the pod runs it, unless
--workers says otherwise) and bench/baseline_app.py (the same worker count) run side by
side and `wrk` (required) saturates one of them at a time with `GET /v1/databases/{id}`
(ids round-robin over the 10,000) and `GET /v1/databases?limit=100`. The baseline runs in
both of its driver modes (see bench/baseline_app.py) and the faster one is the reference.
Rounds are short and rotate the order of the servers so drift of the machine (other work
on a shared host) hits all of them alike; the figure per endpoint is the median over
rounds of API req/s / the faster baseline's req/s in the same round (target >= 0.70). CPU
time per request of each server's process tree is reported too: unlike req/s it barely
depends on how much CPU the rest of the machine leaves over.

With --workers 2, both servers fork two Hypercorn workers sharing one listening socket, and
an asyncio worker accepts every waiting connection in one wake-up: wrk's 16 connections
often all land on one worker of one server and are split in the other, so a round's ratio
depends on that draw more than on the servers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, loadgen, seeding

PROJECT = "bench"
TARGET_RATIO = 0.70
ENDPOINTS = ("get_one", "page_100")
SERVERS = ("api", "baseline-async", "baseline-sync")
VERSUS = "api-versus"
"""With --versus N: the same API over a second database of N databases."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s (< 1 minute)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (4)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per endpoint (5)")
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="wrk connections (16: enough to saturate 2 workers; each server's PostgreSQL"
        " pools then hold at most 16 connections of a server other people use too)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="Hypercorn workers, both (1: the pod's default)"
    )
    parser.add_argument("--databases", type=int, default=10_000, help="rows in the project")
    parser.add_argument(
        "--versus",
        type=int,
        default=None,
        help="also an API over a second database of this many rows (e.g. 1000), in the same"
        " rounds: the API at --databases over the API at --versus (issue 19: within 10%%)",
    )
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 4.0)
    args.rounds = args.rounds or (1 if args.quick else 5)
    return args


def check_same_bodies(
    servers: dict[str, tuple[str, int]], path: str, *, headers: dict[str, str]
) -> None:
    """Every server answers `path` 200 with the API's body, byte for byte: the baseline is a
    fair reference only while it does all the work the API's answer shows."""
    bodies: dict[str, bytes] = {}
    for name, (base, _) in servers.items():
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                bodies[name] = response.read()
        except urllib.error.HTTPError as error:
            raise SystemExit(f"bench: GET {base}{path} answered {error.code}") from None
    for name, body in bodies.items():
        if body != bodies["api"]:
            theirs, ours = json.loads(body), json.loads(bodies["api"])
            keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise SystemExit(
                f"bench: {name} answers GET {path} with another body than the API"
                f" (fields {', '.join(keys)}; bytes {_first_difference(body, bodies['api'])})"
            )


def _first_difference(theirs: bytes, ours: bytes) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(theirs, ours, strict=False)) if a != b),
        min(len(theirs), len(ours)),
    )
    return f"{theirs[max(0, at - 40) : at + 40]!r} vs {ours[max(0, at - 40) : at + 40]!r}"


def main() -> int:
    args = parse_args()
    loadgen.require_wrk()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())  # first: it may wait
        database_url = stack.enter_context(common.throwaway_database())
        common.say(f"seeding {args.databases} databases")
        seeded = seeding.insert_databases(database_url, project=PROJECT, count=args.databases)
        key = common.create_api_key(database_url, project=PROJECT, role="viewer")
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=None,
            api_port=common.free_port(),
            api_workers=args.workers,
        )
        api_service, api_base = common.start_api(stack, work, env)
        servers = {"api": (api_base, api_service.pid)}
        names = list(SERVERS)
        small_ids: list[uuid.UUID] = []
        small_key = ""
        if args.versus:
            small_url = stack.enter_context(common.throwaway_database())
            common.say(f"seeding {args.versus} databases in a second database")
            small_ids = seeding.insert_databases(small_url, project=PROJECT, count=args.versus).ids
            small_key = common.create_api_key(small_url, project=PROJECT, role="viewer")
            small_env = env | {
                "DBAAS_DATABASE_URL": small_url,
                "DBAAS_API_PORT": str(common.free_port()),
            }
            small_dir = work / "versus"
            small_dir.mkdir()
            small_service, small_base = common.start_api(stack, small_dir, small_env)
            servers[VERSUS] = (small_base, small_service.pid)
            names.append(VERSUS)
        for driver in ("async", "sync"):
            servers[f"baseline-{driver}"] = common.start_baseline(
                stack, work, database_url, project=PROJECT, driver=driver, workers=args.workers
            )
        headers = {"Authorization": f"Bearer {key}"}
        paths = {
            "get_one": [f"/v1/databases/{db_id}" for db_id in seeded.ids],
            "page_100": ["/v1/databases?limit=100"],
        }
        for endpoint_paths in paths.values():
            check_same_bodies(
                {n: s for n, s in servers.items() if n != VERSUS},
                endpoint_paths[0],
                headers=headers,
            )
        small_paths = {
            "get_one": [f"/v1/databases/{db_id}" for db_id in small_ids],
            "page_100": ["/v1/databases?limit=100"],
        }
        small_headers = {"Authorization": f"Bearer {small_key}"} if args.versus else {}

        def target(name: str, endpoint: str) -> tuple[list[str], dict[str, str]]:
            if name == VERSUS:
                return small_paths[endpoint], small_headers
            return paths[endpoint], headers

        results: dict[str, dict[str, list[Run]]] = {
            e: {name: [] for name in names} for e in ENDPOINTS
        }
        for endpoint in ENDPOINTS:
            for name in names:
                common.say(f"warming up {name} {endpoint}")
                loadgen.run_wrk(
                    servers[name][0],
                    target(name, endpoint)[0],
                    seconds=2,
                    connections=args.connections,
                    headers=target(name, endpoint)[1],
                )
            for round_no in range(args.rounds):
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:
                    base, pid = servers[name]
                    cpu_before = common.tree_cpu_seconds(pid)
                    result = loadgen.run_wrk(
                        base,
                        target(name, endpoint)[0],
                        seconds=args.seconds,
                        connections=args.connections,
                        headers=target(name, endpoint)[1],
                    )
                    cpu = common.tree_cpu_seconds(pid) - cpu_before
                    run = Run(result, cpu * 1000 / max(1, result.requests))
                    common.say(
                        f"{endpoint} round {round_no + 1} {name}: {result.rps:,.0f} req/s,"
                        f" p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms,"
                        f" {run.cpu_ms:.2f} CPU ms/request, {result.errors} errors"
                    )
                    results[endpoint][name].append(run)
    report(args, results, load=(load_before, os.getloadavg()[0]))
    return 0


@dataclasses.dataclass(frozen=True)
class Run:
    throughput: loadgen.Throughput
    cpu_ms: float
    """CPU time of the server's whole process tree per request, milliseconds."""


def _figures(runs: list[Run]) -> dict[str, Any]:
    return {
        "rps": common.median([r.throughput.rps for r in runs]),
        "p50_ms": common.median([r.throughput.p50_ms for r in runs]),
        "p99_ms": common.median([r.throughput.p99_ms for r in runs]),
        "cpu_ms_per_request": common.median([r.cpu_ms for r in runs]),
        "errors": sum(r.throughput.errors for r in runs),
        "rps_rounds": [r.throughput.rps for r in runs],
    }


def round_ratios(runs: dict[str, list[Run]]) -> list[float]:
    """Per round: API req/s over the faster baseline's req/s of the same round."""
    return [
        common.ratio(api.throughput.rps, max(a.throughput.rps, s.throughput.rps))
        for api, a, s in zip(
            runs["api"], runs["baseline-async"], runs["baseline-sync"], strict=True
        )
    ]


def report(
    args: argparse.Namespace,
    results: dict[str, dict[str, list[Run]]],
    *,
    load: tuple[float, float],
) -> None:
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {
        "databases": args.databases,
        "versus": args.versus,
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "load_generator": "wrk",
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
        "target_ratio": TARGET_RATIO,
    }
    met = True
    for endpoint in ENDPOINTS:
        data = {name: _figures(runs) for name, runs in results[endpoint].items()}
        reference = max(("baseline-async", "baseline-sync"), key=lambda n: data[n]["rps"])
        ratios = round_ratios(results[endpoint])
        ratio = common.median(ratios)
        cpu_ratio = common.ratio(
            data[reference]["cpu_ms_per_request"], data["api"]["cpu_ms_per_request"]
        )
        met = met and ratio >= TARGET_RATIO
        for name in SERVERS:
            d = data[name]
            rows.append(
                [endpoint, name, d["rps"], d["p50_ms"], d["p99_ms"], d["cpu_ms_per_request"]]
            )
        rows.append([endpoint, "api / faster baseline", ratio, "", "", cpu_ratio])
        if VERSUS in data:
            d = data[VERSUS]
            rows.append(
                [
                    endpoint,
                    f"api at {args.versus}",
                    d["rps"],
                    d["p50_ms"],
                    d["p99_ms"],
                    d["cpu_ms_per_request"],
                ]
            )
            scale = [
                common.ratio(big.throughput.rps, small.throughput.rps)
                for big, small in zip(
                    results[endpoint]["api"], results[endpoint][VERSUS], strict=True
                )
            ]
            rows.append(
                [
                    endpoint,
                    f"api at {args.databases} / at {args.versus}",
                    common.median(scale),
                    "",
                    "",
                    common.ratio(d["cpu_ms_per_request"], data["api"]["cpu_ms_per_request"]),
                ]
            )
            data["scale_ratio_rounds"] = scale  # type: ignore[assignment]
            data["scale_ratio"] = common.median(scale)  # type: ignore[assignment]
        figures[endpoint] = {
            **data,
            "reference": reference,
            "ratio": ratio,
            "ratio_rounds": ratios,
            "cpu_efficiency_ratio": cpu_ratio,
        }
    figures["met"] = met
    print(
        f"API vs bare baseline, {args.workers} Hypercorn workers each, wrk -c{args.connections},"
        f" {args.rounds} x {args.seconds:.0f} s per server, medians;"
        f" load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} CPUs)"
    )
    print(
        common.format_table(["endpoint", "server", "req/s", "p50 ms", "p99 ms", "CPU ms/req"], rows)
    )
    print(
        "ratio = median over rounds of API req/s / the faster baseline's req/s in that round;"
        " CPU column of the ratio row = baseline CPU per request / API CPU per request"
    )
    verdict = "met" if met else "MISSED"
    print(f"target: api / faster baseline >= {TARGET_RATIO:.2f} on both endpoints: {verdict}")
    print(common.json_line("api_throughput", figures))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the simulated cluster at 10,000 databases (so it never dominates a dbaas benchmark).

    .venv/bin/python bench/sim_scale.py [--quick] [--databases N] [--watchers N] [--events M]

Starts `dbaas sim` (real CRDs, schema validation on) as a subprocess and measures:

1. create: N Postgres objects POSTed over raw HTTP keep-alive connections (8 threads);
   then the time until the simulated operator has every one of them Ready (each database
   costs the operator ~6 writes: finalizer, status, Secret, Service, authSecret, Ready);
2. list: a full paginated list of the N objects (limit 500) with the official client
   (CustomObjectsApi, deserialisation included) and over raw HTTP (server time + transfer);
3. watch fan-out: W official-client watchers (`kubernetes.watch.Watch`, one thread each)
   on the postgreses, then M label patches; the time until every watcher has seen all M
   MODIFIED events, and the delivered event rate; then W fresh watchers replaying the same
   M events from the history window (delivery alone, not bounded by the write rate);
4. the sim's memory (RSS) holding the N databases and their Secrets and Services.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

NAMESPACE = "bench"
DB_PATH = f"/apis/kubedb.com/v1/namespaces/{NAMESPACE}/postgreses"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 databases, 500 events")
    parser.add_argument("--databases", type=int, default=None, help="Postgres objects (10,000)")
    parser.add_argument("--watchers", type=int, default=5, help="watch clients (5)")
    parser.add_argument("--events", type=int, default=None, help="patches watched (2,000)")
    parser.add_argument("--threads", type=int, default=8, help="HTTP writer threads (8)")
    parser.add_argument("--page", type=int, default=500, help="list page size (500)")
    args = parser.parse_args()
    args.databases = args.databases or (2_000 if args.quick else 10_000)
    args.events = args.events or (500 if args.quick else 2_000)
    return args


def body(index: int) -> bytes:
    return json.dumps({
        "apiVersion": "kubedb.com/v1",
        "kind": "Postgres",
        "metadata": {"name": f"db-{index:05d}", "labels": {"app.kubernetes.io/part-of": "bench"}},
        "spec": {
            "version": "16.4",
            "replicas": 1,
            "storageType": "Durable",
            "storage": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}},
            "deletionPolicy": "Delete",
        },
    }).encode()  # fmt: skip


def _send_all(
    url: str,
    method: str,
    requests: list[tuple[str, bytes]],
    content_type: str,
    errors: list[str],
) -> None:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
    try:
        for path, payload in requests:
            conn.request(method, path, body=payload, headers={"Content-Type": content_type})
            response = conn.getresponse()
            answer = response.read()
            if response.status >= 300:
                errors.append(f"{method} {path}: {response.status} {answer[:200]!r}")
    finally:
        conn.close()


def send_parallel(
    url: str,
    method: str,
    requests: list[tuple[str, bytes]],
    *,
    threads: int,
    content_type: str = "application/json",
) -> float:
    """Send every request over `threads` keep-alive connections; the seconds it took."""
    errors: list[str] = []
    chunks = [requests[i::threads] for i in range(threads)]
    workers = [
        threading.Thread(
            target=_send_all,
            args=(url, method, chunk, content_type, errors),
            name=f"sim-bench-{method.lower()}-{i}",
        )
        for i, chunk in enumerate(chunks)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return elapsed


def ready_count(sim: common.Sim) -> int:
    """Ready databases, counted from a label-less raw list (one page)."""
    document = common.http_json(sim.url + DB_PATH)
    return sum(
        1 for item in document["items"] if (item.get("status") or {}).get("phase") == "Ready"
    )


def list_official(sim: common.Sim, page: int) -> tuple[float, int, int]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sim.kubeconfig))
    custom = client.CustomObjectsApi(api)
    try:
        started = time.perf_counter()
        items = pages = 0
        token = None
        while True:
            listed = custom.list_namespaced_custom_object(
                "kubedb.com", "v1", NAMESPACE, "postgreses", limit=page, _continue=token
            )
            pages += 1
            items += len(listed["items"])
            token = listed["metadata"].get("continue")
            if not token:
                break
        return time.perf_counter() - started, items, pages
    finally:
        api.close()


def list_raw(sim: common.Sim, page: int) -> tuple[float, int]:
    parsed = urllib.parse.urlsplit(sim.url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
    try:
        started = time.perf_counter()
        total_bytes = 0
        token = ""
        while True:
            query = f"?limit={page}" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            conn.request("GET", DB_PATH + query)
            response = conn.getresponse()
            payload = response.read()
            total_bytes += len(payload)
            token = json.loads(payload)["metadata"].get("continue", "")
            if not token:
                break
        return time.perf_counter() - started, total_bytes
    finally:
        conn.close()


class Watcher(threading.Thread):
    """One official-client watch, counting MODIFIED events until it has seen `expected`."""

    def __init__(self, index: int, sim: common.Sim, resource_version: str, expected: int) -> None:
        super().__init__(name=f"sim-bench-watch-{index}", daemon=True)
        self.sim = sim
        self.resource_version = resource_version
        self.expected = expected
        self.seen = 0
        self.finished_at = 0.0
        self.connected = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from kubernetes import client, config, watch

        api = config.new_client_from_config(config_file=str(self.sim.kubeconfig))
        try:
            custom = client.CustomObjectsApi(api)
            stream = watch.Watch().stream(
                custom.list_namespaced_custom_object,
                "kubedb.com",
                "v1",
                NAMESPACE,
                "postgreses",
                resource_version=self.resource_version,
                timeout_seconds=300,
                allow_watch_bookmarks=True,
            )
            self.connected.set()
            for event in stream:
                if (
                    event["type"] == "MODIFIED"
                    and event["raw_object"]["metadata"].get("labels", {}).get("bench-round") == "1"
                ):
                    self.seen += 1
                    if self.seen >= self.expected:
                        self.finished_at = time.perf_counter()
                        break
            stream.close()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            api.close()


def fan_out(sim: common.Sim, args: argparse.Namespace, start_rv: str) -> tuple[float, float, int]:
    watchers = [Watcher(i, sim, start_rv, args.events) for i in range(args.watchers)]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.connected.wait(30)
    common.wait_until(
        "watches open", lambda: sim.stats()["watches_active"] >= args.watchers, timeout=30
    )
    patch = json.dumps({"metadata": {"labels": {"bench-round": "1"}}}).encode()
    requests = [(f"{DB_PATH}/db-{i:05d}", patch) for i in range(args.events)]
    started = time.perf_counter()
    write_seconds = send_parallel(
        sim.url,
        "PATCH",
        requests,
        threads=args.threads,
        content_type="application/merge-patch+json",
    )
    for watcher in watchers:
        watcher.join(timeout=300)
        if watcher.error is not None:
            raise RuntimeError(f"{watcher.name} failed: {watcher.error!r}")
        if watcher.seen < args.events:
            raise RuntimeError(f"{watcher.name} saw {watcher.seen}/{args.events} events")
    delivered = max(w.finished_at for w in watchers) - started
    return write_seconds, delivered, args.watchers * args.events


def replay(sim: common.Sim, args: argparse.Namespace, start_rv: str) -> float:
    """W new watchers replaying the same M events from history: pure delivery throughput."""
    watchers = [Watcher(i, sim, start_rv, args.events) for i in range(args.watchers)]
    started = time.perf_counter()
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join(timeout=300)
        if watcher.error is not None or watcher.seen < args.events:
            raise RuntimeError(f"{watcher.name}: {watcher.seen} events, {watcher.error!r}")
    return max(w.finished_at for w in watchers) - started


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        common.say("starting dbaas sim")
        sim = common.start_sim(
            stack,
            work,
            provision_delay=1.0,
            ops_step_delay=0.5,
        )
        common.http_json(
            sim.url + "/api/v1/namespaces",
            method="POST",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        )

        common.say(f"creating {args.databases} Postgres objects")
        create_s = send_parallel(
            sim.url,
            "POST",
            [(DB_PATH, body(i)) for i in range(args.databases)],
            threads=args.threads,
        )
        ready_s = create_s + common.wait_until(
            "every database Ready",
            lambda: ready_count(sim) == args.databases,
            timeout=600,
            interval=0.5,
            alive=sim.service.check_alive,
        )
        stats = sim.stats()
        memory = common.tree_memory(sim.service.pid)

        common.say("listing")
        official_runs = [list_official(sim, args.page) for _ in range(3)]
        raw_runs = [list_raw(sim, args.page) for _ in range(3)]
        official_s = common.median([run[0] for run in official_runs])
        raw_s = common.median([run[0] for run in raw_runs])
        items, pages = official_runs[0][1], official_runs[0][2]
        if items != args.databases:
            raise RuntimeError(f"the paginated list returned {items}/{args.databases} items")

        common.say(f"watch fan-out: {args.watchers} watchers x {args.events} events")
        start_rv = common.http_json(sim.url + DB_PATH + "?limit=1")["metadata"]["resourceVersion"]
        write_s, delivered_s, events = fan_out(sim, args, start_rv)
        common.say("watch replay from history")
        replay_s = replay(sim, args, start_rv)

    figures: dict[str, Any] = {
        "databases": args.databases,
        "create_per_s": args.databases / create_s,
        "all_ready_s": ready_s,
        "operator_writes": stats["resource_version"],
        "rss_mib": memory.rss_mib,
        "list_pages": pages,
        "list_official_s": official_s,
        "list_raw_s": raw_s,
        "list_raw_mib": raw_runs[0][1] / 2**20,
        "watchers": args.watchers,
        "watch_events": args.events,
        "patch_s": write_s,
        "fanout_all_delivered_s": delivered_s,
        "fanout_events_per_s": events / delivered_s,
        "replay_s": replay_s,
        "replay_events_per_s": events / replay_s,
    }
    rows = [
        [
            "create (raw HTTP, 8 conns)",
            f"{args.databases} objects",
            create_s,
            f"{figures['create_per_s']:,.0f}/s",
        ],
        [
            "operator: all Ready",
            f"{args.databases} databases",
            ready_s,
            f"{stats['resource_version']} writes total",
        ],
        [
            "list, official client",
            f"{pages} pages of {args.page}",
            official_s,
            f"{args.databases / official_s:,.0f} items/s",
        ],
        [
            "list, raw HTTP",
            f"{figures['list_raw_mib']:.1f} MiB",
            raw_s,
            f"{args.databases / raw_s:,.0f} items/s",
        ],
        [
            "patches (raw HTTP)",
            f"{args.events} patches",
            write_s,
            f"{args.events / write_s:,.0f}/s",
        ],
        [
            "watch fan-out delivered",
            f"{args.watchers} x {args.events}",
            delivered_s,
            f"{figures['fanout_events_per_s']:,.0f} events/s",
        ],
        [
            "watch replay (history)",
            f"{args.watchers} x {args.events}",
            replay_s,
            f"{figures['replay_events_per_s']:,.0f} events/s",
        ],
        ["sim RSS", f"{args.databases} DBs + offshoots", memory.rss_mib, "MiB"],
    ]
    print(common.format_table(["step", "size", "seconds", "rate"], rows))
    print(common.json_line("sim_scale", figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 3: operations per second from API acceptance to the OpsRequest created in the
cluster, against raw RQ no-op jobs run by the same worker program in the same run.

    .venv/bin/python bench/operations_throughput.py [--quick]

The operation is the README's scale: `PATCH /v1/databases/{id}` with `{"replicas": 3}`
(merge patch, no If-Match: it is optional) on a Ready standalone Postgres, one per database.
The API answers 202 with one `scale` operation and enqueues it; `dbaas worker` claims it,
creates its PostgresOpsRequest (HorizontalScaling) in the simulated cluster and moves the
operation to `waiting`. OpsRequests are counted by the sim (`/sim/stats`,
"opsrequests_created"), never read back from PostgreSQL. 2N+1 Postgres databases are seeded
first (bench/seeding.py: rows with a succeeded create operation, their CRs in the sim with
status Ready): one for the warm-up and N for each phase below, each phase in a project
(namespace) of its own, or spread over `--projects` of its own; the API (`dbaas api`) and
the worker run against the sim, 8 client threads send the PATCHes.

Baseline: `dbaas worker` itself (rq SimpleWorker, the class it uses) on a queue of its own
drains N no-op jobs (bench/noop.py, enqueued with the options operation jobs have); the
rate is N over the time from the enqueue to the empty queue. It runs once before and once
after the operations, and the mean is the baseline (a shared host's speed drifts).

Two operation figures, each on its own N databases:
- drain (the headline, against the target): the worker has carried out one scale already
  (warm, as the no-op worker has run one job), then is stopped (SIGSTOP) while the API
  accepts the N PATCHes; the rate is N over the time from its SIGCONT to the N-th OpsRequest
  counted by the sim. That is the stage the baseline times, a warm worker draining a filled
  queue, from the accepted operation to its OpsRequest. Target: >= 50 % of the baseline.
- end to end: N PATCHes sent while the worker runs; N over the time from the first PATCH to
  the N-th OpsRequest. The API, PostgreSQL, the sim and the clients then compete with the
  worker for the host's CPUs: the figure of a busy pod, shown with its ratio too.
The run fails unless every operation is `waiting` or `succeeded` afterwards and every seeded
database has exactly one OpsRequest, each created once.
CPU time per job / operation of the worker (and of the API, the sim and the PostgreSQL server
processes serving the run's database) is reported too.

The sim's KubeDB does its own work on an OpsRequest (the scaling steps) `--ops-step-delay`
seconds after it starts; that is the cluster's work after the measured path ends, done
elsewhere in production, so by default it is deferred past the timed windows, as is the
provisioning of the seeded CRs (`--provision-delay`; they are marked Ready directly). The
OpsRequest's admission, schema validation and the ops-manager's first status writes
(Pending, Progressing, the database's Paused condition) stay inside the windows. The sim's
ops-manager finds a database's OpsRequests through an index (it scanned the namespace's,
~3 ms of sim CPU per operation at 1,000 in one project, before 4bdc3d9); `--projects`
spreads each phase over several namespaces, to check that the figures do not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, seeding

PROJECT = "bench"
TARGET_RATIO = 0.50
NOOP = "bench.noop.noop"
CLIENT_THREADS = 8
STALL_SECONDS = 60.0
PROVISION_DELAY = 600.0
OPS_STEP_DELAY = 600.0
PATCH_BODY = json.dumps({"replicas": 3})
DONE_STATES = ("waiting", "succeeded")

Target = tuple[str, uuid.UUID]
"""A database to PATCH and the API key of its project."""


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
        f" {PROVISION_DELAY:.0f}: after the run; the seeded CRs are marked Ready directly)",
    )
    parser.add_argument(
        "--ops-step-delay",
        type=float,
        default=OPS_STEP_DELAY,
        help=f"seconds per step of the sim's ops-manager once an OpsRequest runs (default"
        f" {OPS_STEP_DELAY:.0f}: after the timed windows; 0.5 is the sim's own default)",
    )
    parser.add_argument(
        "--projects",
        type=int,
        default=1,
        help="projects (namespaces) each phase's databases are spread over (default 1)",
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


def patch_all(api: str, targets: Sequence[Target], accepted: list[float]) -> list[str]:
    """PATCH replicas 3 on each database over a keep-alive connection; failures as text."""
    parsed = urllib.parse.urlsplit(api)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    failures: list[str] = []
    try:
        for key, db_id in targets:
            headers = {
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/merge-patch+json",
            }
            conn.request("PATCH", f"/v1/databases/{db_id}", body=PATCH_BODY, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status == 202:
                accepted.append(time.monotonic())
            else:
                failures.append(f"{response.status}: {payload[:300]!r}")
    finally:
        conn.close()
    return failures


class Batch:
    """PATCHes of `targets` sent by CLIENT_THREADS client threads, each on its connection."""

    def __init__(self, api: str, targets: Sequence[Target]) -> None:
        self.accepted: list[float] = []
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(
                target=self._client, args=(api, targets[i::CLIENT_THREADS]), name=f"patcher-{i}"
            )
            for i in range(CLIENT_THREADS)
        ]

    def _client(self, api: str, targets: Sequence[Target]) -> None:
        self.failures.extend(patch_all(api, targets, self.accepted))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def check(self) -> None:
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} PATCHes failed, first: {self.failures[0]}")


def wait_for_ops_requests(
    sim: common.Sim,
    worker: common.Service,
    count: int,
    *,
    started: float,
    check: Callable[[], None] | None = None,
) -> tuple[float, dict[str, int]]:
    """Poll the sim's OpsRequest creations (counted since its last reset) until `count`; the
    time the count was first seen, and the creations. Polls get closer as the end nears
    (from the rate so far), so the end is seen within a few ms without the sim serving the
    whole counter document 20 times a second."""
    progress = (0, time.monotonic())
    while True:
        if check is not None:
            check()
        worker.check_alive()
        created = sim.ops_requests_created()
        now = time.monotonic()
        done = len(created)
        if done >= count:
            return now, created
        if done > progress[0]:
            progress = (done, now)
        elif now - progress[1] > STALL_SECONDS:
            raise RuntimeError(
                f"no new OpsRequest for {STALL_SECONDS:.0f}s at {done} of {count}; worker log:\n"
                + common.tail(worker.log)
            )
        rate = done / max(now - started, 1e-3)
        eta = (count - done) / rate if rate > 0 else 1.0
        time.sleep(min(0.2, max(0.005, eta / 4)))


def warm_up_worker(
    api: str, sim: common.Sim, worker: common.Service, target: Target
) -> dict[str, int]:
    """Run one scale through the worker before a timer starts, as `noop_rate` runs one no-op
    job: its startup (imports, clients, connections) is behind it then. Its
    OpsRequest creation, read before the sim's counters are reset."""
    batch = Batch(api, [target])
    batch.start()
    batch.join()
    batch.check()
    _, created = wait_for_ops_requests(sim, worker, 1, started=time.monotonic())
    sim.reset_stats()
    return created


@contextlib.contextmanager
def stopped(worker: common.Service) -> Iterator[None]:
    """The worker stopped (SIGSTOP) inside the block; SIGCONT however the block ends."""
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(worker.pid, signal.SIGCONT)


class PostgresCpu:
    """CPU time of the PostgreSQL server processes serving the throwaway database, from now
    on (a connection opened meanwhile counts from its start)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.before = self._read()

    def _read(self) -> dict[int, float]:
        pids = common.database_backends(self.database_url)
        return {pid: common.tree_cpu_seconds(pid) for pid in pids}

    def seconds(self) -> float:
        after = self._read()
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in after.items())


def drain_rate(
    api: tuple[str, int],
    sim: common.Sim,
    worker: common.Service,
    targets: Sequence[Target],
    *,
    database_url: str,
) -> tuple[dict[str, float], dict[str, int]]:
    """Accept a PATCH per database while the worker is stopped, then time the worker from its
    SIGCONT to the last OpsRequest; figures, and the OpsRequest creations."""
    base, api_pid = api
    count = len(targets)
    batch = Batch(base, targets)
    with stopped(worker):
        api_cpu_before, accept_started = common.tree_cpu_seconds(api_pid), time.monotonic()
        batch.start()
        batch.join()
        batch.check()
        accept_seconds = max(batch.accepted) - accept_started
        api_cpu = common.tree_cpu_seconds(api_pid) - api_cpu_before
        early = sim.ops_requests_created()
        if early:
            raise RuntimeError(f"{len(early)} OpsRequests created while the worker was stopped")
        worker_cpu_before = common.tree_cpu_seconds(worker.pid)
        sim_cpu_before = common.tree_cpu_seconds(sim.service.pid)
        postgres_cpu = PostgresCpu(database_url)
        started = time.monotonic()
    done_at, created = wait_for_ops_requests(sim, worker, count, started=started)
    worker_cpu = common.tree_cpu_seconds(worker.pid) - worker_cpu_before
    sim_cpu = common.tree_cpu_seconds(sim.service.pid) - sim_cpu_before
    pg_cpu = postgres_cpu.seconds()
    sim.reset_stats()
    return {
        "accept_seconds": accept_seconds,
        "accepted_per_s": count / accept_seconds,
        "accept_api_cpu_ms_per_operation": api_cpu * 1000 / count,
        "seconds": done_at - started,
        "per_s": count / (done_at - started),
        "worker_cpu_ms_per_operation": worker_cpu * 1000 / count,
        "sim_cpu_ms_per_operation": sim_cpu * 1000 / count,
        "postgres_cpu_ms_per_operation": pg_cpu * 1000 / count,
    }, created


def end_to_end_rate(
    api: tuple[str, int],
    sim: common.Sim,
    worker: common.Service,
    targets: Sequence[Target],
    *,
    database_url: str,
) -> tuple[dict[str, float], dict[str, int]]:
    """PATCH each database while the worker runs; N over the first PATCH to the N-th
    OpsRequest; figures, and the OpsRequest creations."""
    base, api_pid = api
    count = len(targets)
    batch = Batch(base, targets)
    pids = {"worker": worker.pid, "api": api_pid, "sim": sim.service.pid}
    cpu_before = {name: common.tree_cpu_seconds(pid) for name, pid in pids.items()}
    postgres_cpu = PostgresCpu(database_url)
    started = time.monotonic()
    batch.start()
    try:
        done_at, created = wait_for_ops_requests(
            sim, worker, count, started=started, check=batch.check
        )
    finally:
        batch.join()
    batch.check()
    cpu = {
        name: (common.tree_cpu_seconds(pid) - cpu_before[name]) * 1000 / count
        for name, pid in pids.items()
    }
    cpu["postgres"] = postgres_cpu.seconds() * 1000 / count
    sim.reset_stats()
    return {
        "accept_seconds": max(batch.accepted) - started,
        "accepted_per_s": count / (max(batch.accepted) - started),
        "seconds": done_at - started,
        "per_s": count / (done_at - started),
        **{f"{name}_cpu_ms_per_operation": value for name, value in cpu.items()},
    }, created


def verify(
    database_url: str, seeded: Sequence[seeding.Seeded], created: dict[str, int]
) -> dict[str, int]:
    """Every seeded database: one scale operation, `waiting` or later, and one OpsRequest
    created once in the sim. Raises on any other outcome; the counts checked otherwise."""
    problems: list[str] = []
    expected: set[str] = set()
    waiting = 0
    for project in seeded:
        states = seeding.operation_states(database_url, project.ids, type="scale")
        for name, db_id in zip(project.names, project.ids, strict=True):
            if len(states[db_id]) != 1 or states[db_id][0] not in DONE_STATES:
                problems.append(f"{name}: scale operations {states[db_id]}")
        waiting += sum(1 for found in states.values() if found == ["waiting"])
        expected |= {f"{project.namespace}/{name}" for name in project.names}
    twice = {key: n for key, n in created.items() if n != 1}
    if twice:
        problems.append(f"OpsRequests created more than once: {sorted(twice)[:5]}")
    per_database = common.ops_requests_per_database(created)
    for key in sorted(expected | set(per_database)):
        if per_database.get(key, 0) != 1:
            problems.append(f"{key}: {per_database.get(key, 0)} OpsRequests")
    if problems:
        raise RuntimeError(f"{len(problems)} problems, first: " + "; ".join(problems[:5]))
    return {"databases": len(expected), "ops_requests": len(created), "waiting": waiting}


def seed_ready(
    database_url: str, sim: common.Sim, *, project: str, count: int, prefix: str
) -> seeding.Seeded:
    """`count` Ready Postgres databases of `project`: rows, CRs, status Ready in the sim."""
    seeded = seeding.insert_databases(database_url, project=project, count=count, prefix=prefix)
    seeding.create_crs(sim, seeded)
    seeding.mark_ready(sim, seeded)
    common.wait_until(
        f"the CRs of {project} Ready",
        lambda: seeding.phases(sim, seeded) == {"Ready": count},
        timeout=60,
        interval=0.5,
        alive=sim.service.check_alive,
    )
    return seeded


def seed_phase(
    database_url: str, sim: common.Sim, *, phase: str, count: int, projects: int
) -> tuple[list[seeding.Seeded], list[Target]]:
    """`count` Ready databases over `projects` projects of their own (so one phase's
    OpsRequests are not in another's namespace); the targets alternate between projects."""
    seeded: list[seeding.Seeded] = []
    per_project: list[list[Target]] = []
    for p in range(projects):
        share = count // projects + (1 if p < count % projects else 0)
        project = f"{PROJECT}-{phase}" + (f"-{p:02d}" if projects > 1 else "")
        made = seed_ready(database_url, sim, project=project, count=share, prefix=phase)
        key = common.create_api_key(database_url, project=project, role="operator")
        seeded.append(made)
        per_project.append([(key, db_id) for db_id in made.ids])
    targets = [target for row in itertools.zip_longest(*per_project) for target in row if target]
    return seeded, targets


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load_before = os.getloadavg()[0]
    n = args.operations
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        redis_url = stack.enter_context(common.benchmark_redis())  # first: it may wait
        database_url = stack.enter_context(common.throwaway_database())
        sim = common.start_sim(
            stack,
            work,
            provision_delay=args.provision_delay,
            ops_step_delay=args.ops_step_delay,
        )
        common.say(f"seeding {2 * n + 1} Ready Postgres databases")
        # projects (namespaces) of each phase's own: neither phase sees the other's objects
        warm_seeded, warm = seed_phase(database_url, sim, phase="warm", count=1, projects=1)
        drain_seeded, drain_targets = seed_phase(
            database_url, sim, phase="drain", count=n, projects=args.projects
        )
        busy_seeded, busy_targets = seed_phase(
            database_url, sim, phase="busy", count=n, projects=args.projects
        )
        sim.reset_stats()
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
        api_of = (api, api_service.pid)
        created = warm_up_worker(api, sim, worker, warm[0])
        common.say(f"drain: {n} PATCH replicas accepted with the worker stopped, then drained")
        drain, made = drain_rate(api_of, sim, worker, drain_targets, database_url=database_url)
        created |= made
        common.say(f"drain: {drain['per_s']:,.1f} OpsRequests/s")
        common.say(f"end to end: {n} PATCH replicas with the worker running")
        busy, made = end_to_end_rate(api_of, sim, worker, busy_targets, database_url=database_url)
        created |= made
        common.say(f"end to end: {busy['per_s']:,.1f} OpsRequests/s")
        checked = verify(database_url, warm_seeded + drain_seeded + busy_seeded, created)
        worker.stop()
        common.say("raw RQ again (the machine may have changed meanwhile)")
        noops.append(noop_rate(work, env, args.noop_jobs))
        common.say(f"raw RQ: {noops[-1][0]:,.0f} jobs/s")
    report(args, noops, drain, busy, checked, load=(load_before, os.getloadavg()[0]))
    return 0


def report(
    args: argparse.Namespace,
    noops: list[tuple[float, float, float]],
    drain: dict[str, float],
    busy: dict[str, float],
    checked: dict[str, int],
    *,
    load: tuple[float, float],
) -> None:
    noop_per_s = sum(rate for rate, _, _ in noops) / len(noops)
    noop_cpu = sum(cpu for _, _, cpu in noops) / len(noops)
    ratio = common.ratio(drain["per_s"], noop_per_s)
    busy_ratio = common.ratio(busy["per_s"], noop_per_s)
    met = ratio >= TARGET_RATIO
    n = args.operations
    rows: list[list[Any]] = [
        [f"raw RQ no-op jobs, run {i + 1} (dbaas worker)", args.noop_jobs, seconds, rate, cpu]
        for i, (rate, seconds, cpu) in enumerate(noops)
    ]
    rows += [
        [
            "PATCH accepted (202), worker stopped",
            n,
            drain["accept_seconds"],
            drain["accepted_per_s"],
            drain["accept_api_cpu_ms_per_operation"],
        ],
        [
            "drain: SIGCONT -> N-th OpsRequest",
            n,
            drain["seconds"],
            drain["per_s"],
            drain["worker_cpu_ms_per_operation"],
        ],
        [
            "end to end: 1st PATCH -> N-th OpsRequest",
            n,
            busy["seconds"],
            busy["per_s"],
            busy["worker_cpu_ms_per_operation"],
        ],
    ]
    print(
        f"operation throughput (PATCH replicas 1 -> 3: a HorizontalScaling OpsRequest),"
        f" {CLIENT_THREADS} client threads, {args.projects} project(s) per phase,"
        f" one `dbaas worker` (rq SimpleWorker);"
        f" sim provisioning after {args.provision_delay:g}s, OpsRequest steps after"
        f" {args.ops_step_delay:g}s; load average {load[0]:.1f} before, {load[1]:.1f} after"
        f" ({os.cpu_count()} CPUs)"
    )
    print(common.format_table(["what", "count", "seconds", "per second", "CPU ms each"], rows))
    print(
        "CPU ms each: of the worker (no-op, drain and end-to-end rows), of the API (PATCH row);"
        f" end to end the API spent {busy['api_cpu_ms_per_operation']:.2f} ms per operation;"
        f" the sim {drain['sim_cpu_ms_per_operation']:.2f} (drain),"
        f" {busy['sim_cpu_ms_per_operation']:.2f} (end to end); PostgreSQL's server processes"
        f" {drain['postgres_cpu_ms_per_operation']:.2f} (drain),"
        f" {busy['postgres_cpu_ms_per_operation']:.2f} (end to end)"
    )
    print(
        f"checked: {checked['databases']} databases, each one scale operation (waiting or"
        f" later: {checked['waiting']} waiting) and one OpsRequest created once"
        f" ({checked['ops_requests']} in all)"
    )
    verdict = "met" if met else "MISSED"
    print(
        f"drain / mean raw RQ = {ratio:.3f}; target >= {TARGET_RATIO:.2f}: {verdict};"
        f" end to end / mean raw RQ = {busy_ratio:.3f} (busy pod: API, PostgreSQL, sim and"
        f" clients share the CPUs); worker CPU per operation / per no-op job ="
        f" {common.ratio(drain['worker_cpu_ms_per_operation'], noop_cpu):.1f} (drain)"
    )
    figures = {
        "operation": "PATCH /v1/databases/{id} replicas 1->3 (HorizontalScaling OpsRequest)",
        "operations": n,
        "projects_per_phase": args.projects,
        "noop_jobs": args.noop_jobs,
        "noop_jobs_per_s": noop_per_s,
        "noop_jobs_per_s_runs": [rate for rate, _, _ in noops],
        "noop_worker_cpu_ms_per_job": noop_cpu,
        "accepted_per_s": drain["accepted_per_s"],
        "api_cpu_ms_per_accept": drain["accept_api_cpu_ms_per_operation"],
        "drain_per_s": drain["per_s"],
        "drain_worker_cpu_ms_per_operation": drain["worker_cpu_ms_per_operation"],
        "drain_sim_cpu_ms_per_operation": drain["sim_cpu_ms_per_operation"],
        "drain_postgres_cpu_ms_per_operation": drain["postgres_cpu_ms_per_operation"],
        "end_to_end_per_s": busy["per_s"],
        "end_to_end_accepted_per_s": busy["accepted_per_s"],
        "end_to_end_worker_cpu_ms_per_operation": busy["worker_cpu_ms_per_operation"],
        "end_to_end_api_cpu_ms_per_operation": busy["api_cpu_ms_per_operation"],
        "end_to_end_sim_cpu_ms_per_operation": busy["sim_cpu_ms_per_operation"],
        "end_to_end_postgres_cpu_ms_per_operation": busy["postgres_cpu_ms_per_operation"],
        "ratio": ratio,
        "end_to_end_ratio": busy_ratio,
        "target_ratio": TARGET_RATIO,
        "met": met,
        "checked_databases": checked["databases"],
        "worker_class": "rq.SimpleWorker (dbaas worker default)",
        "sim_provision_delay_s": args.provision_delay,
        "sim_ops_step_delay_s": args.ops_step_delay,
        "cpus": os.cpu_count(),
        "loadavg_1m_before_after": list(load),
    }
    print(common.json_line("operations_throughput", figures))


if __name__ == "__main__":
    sys.exit(main())

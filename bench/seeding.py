"""Bulk data for the benchmarks: thousands of databases in PostgreSQL and in the simulated
cluster, and bursts of operations, made faster than any API could take them.

Why: a benchmark of a 10,000-database project must not spend minutes building it. Rows go
in with one COPY per table (each database with a succeeded `create` operation, as if dbaas
had created it), and the matching CRs are rendered by the same `manifests.render_database`
the worker uses, so the reconcilers see no drift, only status to record. Never used by the
programs themselves; never writes anywhere but the throwaway database and sim it is given.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import common
from services.clients import postgres
from services.control import databases as control
from services.domain import manifests, specs
from services.store import projects

ENGINE, VERSION, STORAGE = "postgres", "16.13", "1Gi"
DB_PATH = "/apis/kubedb.com/v1/namespaces/{namespace}/postgreses"


@dataclasses.dataclass(frozen=True)
class Seeded:
    project: str
    namespace: str
    ids: list[uuid.UUID]
    names: list[str]


def spec_for(name: str) -> specs.DatabaseSpec:
    return specs.DatabaseSpec.from_columns(
        {
            "name": name,
            "engine": ENGINE,
            "version": VERSION,
            "replicas": 1,
            "storage": STORAGE,
            "cpu": None,
            "memory": None,
            "deletion_policy": "Delete",
            "drift_policy": "correct",
        }
    )


def insert_databases(
    database_url: str,
    *,
    project: str,
    count: int,
    prefix: str = "db",
    ids: Sequence[uuid.UUID] | None = None,
) -> Seeded:
    """`count` ready postgres databases `<prefix>-00000`... of `project`, each with a
    succeeded create operation; created_at strictly increasing (a stable list order).
    `ids`: the databases' ids (a cached cluster's), else new ones."""
    ids = list(ids) if ids is not None else [uuid.uuid4() for _ in range(count)]
    names = [f"{prefix}-{i:05d}" for i in range(count)]
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with postgres.connect(database_url) as conn:
        namespace = projects.ensure(conn, project)
        with conn.cursor().copy(
            "COPY databases (id, project_id, name, engine, version, replicas, storage,"
            " deletion_policy, generation, state, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i, (db_id, name) in enumerate(zip(ids, names, strict=True)):
                at = base + dt.timedelta(milliseconds=i)
                row = (db_id, project, name, ENGINE, VERSION, 1, STORAGE, "Delete", 1, "ready")
                copy.write_row((*row, at, at))
        with conn.cursor().copy(
            "COPY operations (id, database_id, project_id, type, state, params, generation,"
            " k8s_kind, k8s_name, attempt, requested_by, started_at, finished_at)"
            " FROM STDIN"
        ) as copy:
            for db_id, name in zip(ids, names, strict=True):
                params = json.dumps(control.desired_of(spec_for(name)))
                op = (uuid.uuid4(), db_id, project, "create", "succeeded", params, 1)
                copy.write_row((*op, "Postgres", name, 1, "benchmark", base, base))
        conn.execute("ANALYZE databases")
        conn.execute("ANALYZE operations")
        conn.commit()
    return Seeded(project, namespace, ids, names)


def seeded_cluster(
    stack: contextlib.ExitStack,
    work: Path,
    database_url: str,
    *,
    project: str,
    count: int,
    cache: Path | None,
    provision_delay: float,
    ops_step_delay: float,
    crds: Path | None = None,
) -> tuple[common.Sim, Seeded]:
    """The throwaway database seeded with `count` databases and a sim holding their CRs,
    every one Ready.

    With `cache` (a directory), the sim's state file and the ids are kept there after the
    first seeding, and a later run of the same `count` starts the sim from a copy of that
    state (`dbaas sim --state`, as after an etcd restore: the same objects the API path
    made, loaded without events) and COPYs the rows with the same ids: at 100,000
    databases the seeding through the sim's API takes a quarter of an hour on this host,
    the load seconds. The cache holds the cluster only; PostgreSQL is seeded each run."""
    state = work / "sim-state.json"
    extra = ["--state", str(state), "--state-interval", "86400"]
    kwargs = {"provision_delay": provision_delay, "ops_step_delay": ops_step_delay, "crds": crds}
    meta = cache / f"seeded-{count}.json" if cache is not None else None
    if cache is not None and meta is not None and meta.exists():
        common.say(f"seeding: the cluster of {count} databases from {cache}")
        shutil.copyfile(cache / f"sim-state-{count}.json", state)
        ids = [uuid.UUID(text) for text in json.loads(meta.read_text())["ids"]]
        seeded = insert_databases(database_url, project=project, count=count, ids=ids)
        started = time.monotonic()
        sim = common.start_sim(stack, work, extra=extra, **kwargs)
        common.say(f"seeding: sim loaded its state in {time.monotonic() - started:.1f}s")
        return sim, seeded
    seeded = insert_databases(database_url, project=project, count=count)
    sim = common.start_sim(stack, work, extra=extra if cache is not None else (), **kwargs)
    create_crs(sim, seeded)
    common.wait_until(
        f"the sim to report {count} databases Ready",
        lambda: phases(sim, seeded).get("Ready", 0) >= count,
        timeout=3600,
        interval=5,
    )
    if cache is None:
        return sim, seeded
    assert meta is not None
    sim.service.stop(timeout=300)  # a clean stop writes the state file
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(state, cache / f"sim-state-{count}.json")
    meta.write_text(json.dumps({"ids": [str(db_id) for db_id in seeded.ids]}))
    common.say(f"seeding: the cluster of {count} databases saved in {cache}")
    return common.start_sim(stack, work, extra=extra, **kwargs), seeded


def _chunks(items: Sequence[bytes], parts: int) -> Iterator[Sequence[bytes]]:
    size = max(1, -(-len(items) // parts))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _post_all(url: str, path: str, bodies: Sequence[bytes], errors: list[str]) -> None:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    try:
        for body in bodies:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status not in (201, 409):
                errors.append(f"{response.status}: {payload[:300]!r}")
    finally:
        conn.close()


def create_crs(sim: common.Sim, seeded: Seeded, *, threads: int = 4) -> None:
    """The CR of every seeded database, in the sim, as the worker would have created it."""
    namespace_body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": seeded.namespace},
    }
    errors: list[str] = []
    _post_all(sim.url, "/api/v1/namespaces", [json.dumps(namespace_body).encode()], errors)
    bodies = [
        json.dumps(
            manifests.render_database(
                spec_for(name),
                namespace=seeded.namespace,
                database_id=db_id,
                project_id=seeded.project,
                generation=1,
            )
        ).encode()
        for db_id, name in zip(seeded.ids, seeded.names, strict=True)
    ]
    path = DB_PATH.format(namespace=seeded.namespace)
    workers = [
        threading.Thread(
            target=_post_all, args=(sim.url, path, chunk, errors), name=f"seed-crs-{i}"
        )
        for i, chunk in enumerate(_chunks(bodies, threads))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"{len(errors)} CR creations failed, first: {errors[0]}")


def create_burst(
    database_url: str, *, project: str, count: int, prefix: str = "burst"
) -> list[uuid.UUID]:
    """`count` new databases through the control use case (one transaction each, as the API
    does), not yet enqueued; the ids of their create operations."""
    from services.domain.records import Principal

    principal = Principal(key_id=uuid.uuid4(), project_id=project, role="admin")
    operation_ids: list[uuid.UUID] = []

    def create(names: Sequence[str]) -> list[uuid.UUID]:
        made: list[uuid.UUID] = []
        with postgres.connect(database_url) as conn:
            conn.autocommit = True
            for name in names:
                accepted = control.create_database(conn, principal, spec_for(name))
                made.extend(op.id for op in accepted.operations)
        return made

    names = [f"{prefix}-{i:05d}" for i in range(count)]
    with ThreadPoolExecutor(4, thread_name_prefix="seed-burst") as pool:
        for made in pool.map(create, [names[i::4] for i in range(4)]):
            operation_ids.extend(made)
    return operation_ids


def enqueue(redis_url: str, operation_ids: Sequence[uuid.UUID]) -> None:
    """Enqueue operations as the API does after its commit (one pipelined round trip)."""
    from services.clients import queue as queue_client
    from services.settings import Settings

    redis = queue_client.connect(redis_url)
    try:
        queue = queue_client.operation_queue(redis, Settings().queue_name)
        queue_client.enqueue_operations(queue, operation_ids)
    finally:
        redis.close()


def progress(database_url: str, operation_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """How many of `operation_ids` are not terminal yet, and how many databases status-sync
    has never synced."""
    with postgres.connect(database_url, autocommit=True) as conn:
        open_ops = conn.execute(
            "SELECT count(*) AS n FROM operations WHERE id = ANY(%s)"
            " AND state NOT IN ('succeeded', 'failed', 'cancelled')",
            (list(operation_ids),),
        ).fetchone()
        unsynced = conn.execute(
            "SELECT count(*) AS n FROM databases WHERE synced_at IS NULL"
        ).fetchone()
    assert open_ops is not None and unsynced is not None
    return {"open_operations": open_ops["n"], "unsynced": unsynced["n"]}


def _send_all(
    url: str,
    method: str,
    requests: Sequence[tuple[str, bytes]],
    *,
    content_type: str,
    errors: list[str],
) -> None:
    """`method` each (path, body) over one keep-alive connection; non-2xx answers as text."""
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    try:
        for path, body in requests:
            conn.request(method, path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            payload = response.read()
            if not 200 <= response.status < 300:
                errors.append(f"{method} {path}: {response.status}: {payload[:300]!r}")
    finally:
        conn.close()


def mark_ready(sim: common.Sim, seeded: Seeded, *, threads: int = 4) -> None:
    """Status `Ready` on every seeded CR (made by `create_crs`), as KubeDB writes it once the
    database is provisioned, without the sim's operator provisioning anything: a benchmark
    that starts the sim with a long `--provision-delay` gets databases that accept
    OpsRequests at once (the ops-manager runs `apply: IfReady` requests only on Ready ones)."""
    from services.sim import objects, offshoots

    now = objects.timestamp(dt.datetime.now(dt.UTC))
    path = DB_PATH.format(namespace=seeded.namespace) + "/{name}/status"
    requests = []
    for name in seeded.names:
        cr = {
            "kind": "Postgres",
            "metadata": {"namespace": seeded.namespace, "name": name, "generation": 1},
        }
        status = {
            "phase": "Ready",
            "observedGeneration": 1,
            "conditions": offshoots.phase_conditions(cr, "Ready", now=now),
        }
        requests.append((path.format(name=name), json.dumps({"status": status}).encode()))
    errors: list[str] = []
    size = max(1, -(-len(requests) // threads))
    workers = [
        threading.Thread(
            target=_send_all,
            args=(sim.url, "PATCH", requests[start : start + size]),
            kwargs={"content_type": "application/merge-patch+json", "errors": errors},
            name=f"seed-ready-{start // size}",
        )
        for start in range(0, len(requests), size)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError(f"{len(errors)} status writes failed, first: {errors[0]}")


def phases(sim: common.Sim, seeded: Seeded) -> collections.Counter[str]:
    """How many seeded CRs are in each status phase (`""` for none yet)."""
    listed = common.http_json(sim.url + DB_PATH.format(namespace=seeded.namespace))
    wanted = set(seeded.names)
    return collections.Counter(
        (item.get("status") or {}).get("phase", "")
        for item in listed["items"]
        if item["metadata"]["name"] in wanted
    )


def operation_states(
    database_url: str, database_ids: Sequence[uuid.UUID], *, type: str
) -> dict[uuid.UUID, list[str]]:
    """The states of the `type` operations of each database (none: an empty list)."""
    states: dict[uuid.UUID, list[str]] = {db_id: [] for db_id in database_ids}
    with postgres.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT database_id, state FROM operations WHERE database_id = ANY(%s)"
            " AND type = %s ORDER BY database_id, seq",
            (list(database_ids), type),
        ).fetchall()
    for row in rows:
        states[row["database_id"]].append(row["state"])
    return states

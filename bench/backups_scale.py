"""Benchmark: status-sync and drift with backups at scale (issue 17's proof).

    .venv/bin/python bench/backups_scale.py [--quick] [--databases 10000] [--sessions 200]

N ready postgres databases (`seeding`), measured twice in one run, with the same programs
and settings (`DBAAS_BACKUP_STORAGE` set, so status-sync watches the KubeStash kinds and
drift lists the BackupConfigurations):

1. **Baseline**: the databases alone (no KubeStash objects).
2. **With backups**: per database a month of daily backups, as KubeStash holds them
   (`backup_seeding`: 30 Snapshots, the last 3 BackupSessions, its BackupConfiguration,
   Repository, RetentionPolicy and Secret: 300,000 Snapshots at 10,000 databases) and their
   `backups` rows in PostgreSQL.

Each phase measures: `dbaas status-sync`'s initial sync (from its start until every
database row shows its phase again, every kept BackupSession's row was observed, and a
probe row whose Snapshot does not exist was marked deleted: the full Snapshot list was
processed), its resync after a 410 (`/sim/compact`: every watch ends with 410 Gone and
every kind is listed again; until a second probe is marked), the RSS and peak RSS (VmHWM)
of status-sync, a drift full pass (in-process, seconds and requests: only paginated
lists) and the RSS of `dbaas drift` after its first pass, and the sim's RSS (not part of
the pod). The resync is timed from the 410 until a phase change made right after it
shows in its row (the database lists) and the probe is marked (the Snapshot list). With
backups, also the status propagation of backup state: `--sessions` new
BackupSessions (as KubeStash's schedule creates them, at `--session-rate` a second, each of
another database) run by the simulated KubeStash, each timed from the moment its Snapshot
turned Succeeded (seen by a watch of this script) until its `backups` row is `succeeded`
(and from the session's creation, too). Targets (issue 17, the reconciler benchmark's):
initial sync / resync <= 10 s, drift pass <= 5 s with only paginated lists, propagation
p99 < 1 s, the pod within 512 MiB.

`--quick`: 1,000 databases x 30, 50 sessions. Progress goes to stderr; stdout gets a
table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backup_seeding, backup_view_memory, common, profiling, seeding
from services import devrun
from services.clients import kube, postgres
from services.clients import queue as queue_client
from services.domain.resources import BACKUP_CONFIGURATION, database_resources
from services.reconcilers.drift.loop import DriftDetector
from services.sim.kubestash.backups import snapshot_name

PROJECT = "bench"
STORAGE = "/".join(devrun.DEV_BACKUP_STORAGE)
SHARED_DIR = Path(os.environ.get("DBAAS_SHARED_DIR") or common.REPO.parent / "shared")
LIST_PLURALS = [r.plural for r in database_resources()] + [BACKUP_CONFIGURATION.plural]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 databases, 50 sessions")
    parser.add_argument("--databases", type=int, default=None, help="databases (10000)")
    parser.add_argument("--sessions", type=int, default=None, help="sessions timed (200)")
    parser.add_argument(
        "--session-rate", type=float, default=10.0, help="new BackupSessions a second (10)"
    )
    parser.add_argument(
        "--seed-cache", type=Path, default=None, help="the databases' cluster (seeding)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy status-sync and the sim during the initial sync and the resync (with"
        " backups); collapsed stacks into this directory",
    )
    args = parser.parse_args()
    args.databases = args.databases or (1_000 if args.quick else 10_000)
    args.sessions = args.sessions or (50 if args.quick else 200)
    return args


def merged_crds(work: Path) -> Path:
    """KubeDB's and KubeStash's CRDs in one directory (the sim reads one)."""
    merged = work / "crds"
    merged.mkdir()
    for source in (common.KUBEDB_DIR / "crds", SHARED_DIR / "kubestash" / "crds"):
        for path in sorted(source.iterdir()):
            (merged / path.name).symlink_to(path)
    return merged


def vm_kib(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return common.parse_kib_fields(status, [field]).get(field, 0) / 1024


def count(database_url: str, query: str, params: tuple[Any, ...] = ()) -> int:
    with postgres.connect(database_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    return int(row["n"]) if row else 0


def wait_quiet(sim: common.Sim, *, seconds: float = 3.0) -> None:
    """Until the sim's resourceVersion has not moved for `seconds` (its operators idle)."""
    started = time.monotonic()
    last, since = "", time.monotonic()
    while time.monotonic() - since < seconds:
        version = str(common.http_json(sim.url + "/sim/healthz")["resourceVersion"])
        if version != last:
            last, since = version, time.monotonic()
        if time.monotonic() - started > 600:
            raise TimeoutError("the sim kept writing for 10 minutes")
        time.sleep(0.5)
    common.say(f"sim quiet after {time.monotonic() - started:.1f}s")


@dataclasses.dataclass
class Phase:
    """What one phase measured."""

    label: str
    initial_sync_s: float = 0.0
    resync_s: float = 0.0
    status_sync_rss_mib: float = 0.0
    status_sync_rss_after_resync_mib: float = 0.0
    status_sync_peak_mib: float = 0.0
    drift_pass: dict[str, Any] = dataclasses.field(default_factory=dict)
    drift_rss_mib: float = 0.0
    sim_rss_mib: float = 0.0
    propagation: common.LatencySummary | None = None
    from_creation: common.LatencySummary | None = None
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)


def measure_status_sync(
    stack: contextlib.ExitStack,
    phase: Phase,
    *,
    sim: common.Sim,
    work: Path,
    env: dict[str, str],
    database_url: str,
    seeded: seeding.Seeded,
    sessions_kept: int,
    profile: Path | None,
) -> common.Service:
    """Start status-sync; time its initial sync and its resync after a 410."""
    with postgres.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE databases SET phase = NULL, synced_at = NULL")
    probe = backup_seeding.insert_probe(database_url, seeded, f"initial-{phase.label}")
    # The last phase's instance was stopped, not frozen: without its heartbeat file the new
    # one does not stand back for a standby (wiring's frozen-predecessor check).
    for beat in (work / "heartbeats").glob("status-sync*"):
        beat.unlink()
    marker = time.time()
    started = time.monotonic()
    sync = common.start_service(
        stack,
        f"status-sync-{phase.label}",
        common.dbaas_command("status-sync"),
        env=env,
        workdir=work,
    )
    total = len(seeded.ids)

    def synced() -> bool:
        ready = count(database_url, "SELECT count(*) AS n FROM databases WHERE phase = 'Ready'")
        observed = count(
            database_url,
            "SELECT count(*) AS n FROM backups WHERE updated_at >= to_timestamp(%s)"
            " AND backup_session NOT LIKE 'probe-%%'",
            (marker,),
        )
        return (
            ready >= total
            and observed >= sessions_kept
            and backup_seeding.probe_marked(database_url, probe)
        )

    with contextlib.ExitStack() as spies:
        if profile is not None:
            spies.enter_context(profiling.record(sync.pid, profile / "status-sync-initial.txt"))
            spies.enter_context(profiling.record(sim.service.pid, profile / "sim-initial.txt"))
        common.wait_until(
            f"status-sync's initial sync ({phase.label})",
            synced,
            timeout=1800,
            interval=0.1,
            alive=sync.check_alive,
        )
    phase.initial_sync_s = time.monotonic() - started
    common.say(f"{phase.label}: initial sync {phase.initial_sync_s:.1f}s")
    time.sleep(2)  # the first trims and the last writes
    phase.status_sync_rss_mib = vm_kib(sync.pid, "VmRSS")
    probe = backup_seeding.insert_probe(database_url, seeded, f"resync-{phase.label}")
    with contextlib.ExitStack() as spies:
        if profile is not None:
            spies.enter_context(profiling.record(sync.pid, profile / "status-sync-resync.txt"))
            spies.enter_context(profiling.record(sim.service.pid, profile / "sim-resync.txt"))
            time.sleep(1)  # py-spy attached
        db_id, name = seeded.ids[-1], seeded.names[-1]
        flip = {"resource": "postgreses", "namespace": seeded.namespace, "name": name}
        started = time.monotonic()
        common.http_json(sim.url + "/sim/compact", method="POST", body={"drop_watches": True})
        common.http_json(sim.url + "/sim/phase", method="POST", body=flip | {"phase": "Critical"})

        def relisted() -> bool:
            shown = count(
                database_url,
                "SELECT count(*) AS n FROM databases WHERE id = %s AND phase = 'Critical'",
                (db_id,),
            )
            return shown == 1 and backup_seeding.probe_marked(database_url, probe)

        common.wait_until(
            f"status-sync's resync after a 410 ({phase.label})",
            relisted,
            timeout=1800,
            interval=0.1,
            alive=sync.check_alive,
        )
    phase.resync_s = time.monotonic() - started
    common.say(f"{phase.label}: resync after 410 {phase.resync_s:.1f}s")
    time.sleep(2)
    phase.status_sync_rss_after_resync_mib = vm_kib(sync.pid, "VmRSS")
    phase.status_sync_peak_mib = vm_kib(sync.pid, "VmHWM")
    common.http_json(sim.url + "/sim/phase", method="POST", body=flip | {"phase": "Ready"})
    return sync


def measure_drift(
    stack: contextlib.ExitStack,
    phase: Phase,
    *,
    sim: common.Sim,
    work: Path,
    env: dict[str, str],
    database_url: str,
    redis_url: str,
) -> None:
    """A drift full pass in-process (seconds, requests), then `dbaas drift`'s RSS after its
    first pass."""
    with contextlib.ExitStack() as local:
        pool = postgres.create_pool(database_url, name="bench-drift", max_size=2)
        local.callback(pool.close)
        cluster = kube.KubeClient(kube.load_api_client(str(sim.kubeconfig)))
        local.callback(cluster.close)
        redis_conn = queue_client.connect(redis_url)
        local.callback(redis_conn.close)
        detector = DriftDetector(
            pool=pool,
            cluster=cluster,
            queue=queue_client.operation_queue(redis_conn, "bench-drift"),
            interval_seconds=60,
            backup_storage=STORAGE,
        )
        common.http_json(sim.url + "/sim/stats", method="DELETE")
        started = time.monotonic()
        outcome = detector.run_cycle()
        seconds = time.monotonic() - started
    requests: dict[str, dict[str, int]] = sim.stats()["requests"]
    lists = sum(requests.get("list", {}).get(plural, 0) for plural in LIST_PLURALS)
    gets = sum(requests.get("get", {}).get(plural, 0) for plural in LIST_PLURALS)
    common.say(f"{phase.label}: drift pass {seconds:.2f}s: {outcome}")
    phase.drift_pass = {"seconds": seconds, "lists": lists, "gets": gets, "outcome": outcome}
    for beat in (work / "heartbeats").glob("drift*"):  # see measure_status_sync
        beat.unlink()
    drift = common.start_service(
        stack,
        f"drift-{phase.label}",
        common.dbaas_command("drift"),
        env=env | {"DBAAS_DRIFT_INTERVAL_SECONDS": "3600"},
        workdir=work,
    )
    common.wait_until(
        f"dbaas drift's first pass ({phase.label})",
        lambda: " checked, " in drift.log.read_text(errors="replace"),
        timeout=600,
        interval=0.2,
        alive=drift.check_alive,
    )
    time.sleep(1)
    phase.drift_rss_mib = vm_kib(drift.pid, "VmRSS")
    drift.stop()


class SnapshotWatch:
    """A watch of every Snapshot from now on: when each turned Succeeded (monotonic)."""

    def __init__(self, sim: common.Sim, namespace: str) -> None:
        self.succeeded: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        healthz = common.http_json(sim.url + "/sim/healthz")
        version = str(healthz.get("resourceVersion") or "")
        parsed = urllib.parse.urlsplit(sim.url)
        self.conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
        path = (
            f"/apis/storage.kubestash.com/v1alpha1/namespaces/{namespace}/snapshots"
            f"?watch=true&resourceVersion={version}&timeoutSeconds=3600"
        )
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"snapshot watch: {self.response.status}")
        self.sock = self.conn.sock
        self.thread = threading.Thread(target=self._read, name="bench-snapshot-watch")
        self.thread.daemon = True
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                line = self.response.readline()
            except (OSError, ValueError):  # closed by `close`
                return
            if not line:
                return
            event = json.loads(line)
            obj = event.get("object") or {}
            if (obj.get("status") or {}).get("phase") == "Succeeded":
                name = obj["metadata"]["name"]
                with self.lock:
                    self.succeeded.setdefault(name, time.monotonic())

    def close(self) -> None:
        """Ends the stream under the reading thread (a blocked read cannot be interrupted
        otherwise) and waits for it."""
        self.stop.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.conn.close()


def propagation(
    sim: common.Sim,
    database_url: str,
    seeded: seeding.Seeded,
    templates: backup_seeding.Templates,
    *,
    sessions: int,
    rate: float,
    alive: Any,
) -> tuple[list[float], list[float]]:
    """New BackupSessions of distinct databases at `rate` a second; seconds from each one's
    Snapshot turning Succeeded, and from its creation, until its row is `succeeded`."""
    watch = SnapshotWatch(sim, seeded.namespace)
    template = templates.objects["BackupSession"]
    path = f"/apis/core.kubestash.com/v1alpha1/namespaces/{seeded.namespace}/backupsessions"
    step = max(1, len(seeded.ids) // max(1, sessions))
    created: dict[str, float] = {}
    snapshot_of: dict[str, str] = {}
    latencies: list[float] = []
    from_creation: list[float] = []
    first = time.monotonic()
    try:
        with postgres.connect(database_url, autocommit=True) as conn:
            for number in range(sessions):
                due = first + number / rate
                while time.monotonic() < due:
                    _collect(conn, watch, created, snapshot_of, latencies, from_creation)
                    alive()
                    time.sleep(0.005)
                index = (number * step) % len(seeded.ids)
                names = backup_seeding.names_of(seeded, index)
                session = backup_seeding.session_name(names, backup_seeding.SNAPSHOTS + number)
                invoker = template["spec"]["invoker"] | {"name": names.backup_configuration}
                body = {  # what KubeStash's schedule creates (the sim's `trigger`)
                    "apiVersion": template["apiVersion"],
                    "kind": "BackupSession",
                    "metadata": {"name": session, "namespace": seeded.namespace},
                    "spec": template["spec"] | {"invoker": invoker},
                }
                common.http_json(sim.url + path, method="POST", body=body)
                created[session] = time.monotonic()
                snapshot_of[session] = snapshot_name(names.repository, session)
            deadline = time.monotonic() + 120
            while created:
                _collect(conn, watch, created, snapshot_of, latencies, from_creation)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(created)} backups not recorded within 120 s")
                alive()
                time.sleep(0.005)
    finally:
        watch.close()
    return latencies, from_creation


def _collect(
    conn: postgres.Connection,
    watch: SnapshotWatch,
    created: dict[str, float],
    snapshot_of: dict[str, str],
    latencies: list[float],
    from_creation: list[float],
) -> None:
    if not created:
        return
    rows = conn.execute(
        "SELECT backup_session FROM backups WHERE backup_session = ANY(%s) AND state = 'succeeded'",
        (list(created),),
    ).fetchall()
    seen = time.monotonic()
    for row in rows:
        session = row["backup_session"]
        with watch.lock:
            succeeded = watch.succeeded.get(snapshot_of[session])
        if succeeded is None:
            continue  # the watch's event is still on its way: next poll
        latencies.append(seen - succeeded)
        from_creation.append(seen - created.pop(session))


def run_phase(
    phase: Phase,
    *,
    sim: common.Sim,
    work: Path,
    env: dict[str, str],
    database_url: str,
    redis_url: str,
    seeded: seeding.Seeded,
    sessions_kept: int,
    templates: backup_seeding.Templates | None,
    args: argparse.Namespace,
) -> None:
    with contextlib.ExitStack() as local:
        sync = measure_status_sync(
            local,
            phase,
            sim=sim,
            work=work,
            env=env,
            database_url=database_url,
            seeded=seeded,
            sessions_kept=sessions_kept,
            profile=args.profile if templates is not None else None,
        )
        measure_drift(
            local,
            phase,
            sim=sim,
            work=work,
            env=env,
            database_url=database_url,
            redis_url=redis_url,
        )
        if templates is not None:
            common.say(f"{phase.label}: {args.sessions} new backups at {args.session_rate}/s")
            latencies, creation = propagation(
                sim,
                database_url,
                seeded,
                templates,
                sessions=args.sessions,
                rate=args.session_rate,
                alive=sync.check_alive,
            )
            phase.propagation = common.summarize(latencies)
            phase.from_creation = common.summarize(creation)
            common.say(
                f"{phase.label}: Snapshot Succeeded -> row p50 {phase.propagation.p50_ms:.0f}"
                f" ms, p99 {phase.propagation.p99_ms:.0f} ms"
            )
        phase.status_sync_peak_mib = max(phase.status_sync_peak_mib, vm_kib(sync.pid, "VmHWM"))
        phase.sim_rss_mib = common.tree_memory(sim.service.pid).rss_mib
        phase.notes["status_sync_log_tail"] = common.tail(sync.log, 3)


def main() -> int:
    args = parse_args()
    common.install_signal_handlers()
    load = os.getloadavg()
    common.say(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(common.workdir())
        database_url = stack.enter_context(common.throwaway_database())
        redis_url = stack.enter_context(common.benchmark_redis())
        crds = merged_crds(work)
        common.say(f"seeding {args.databases} databases in PostgreSQL and in the cluster")
        sim, seeded = seeding.seeded_cluster(
            stack,
            work,
            database_url,
            project=PROJECT,
            count=args.databases,
            cache=args.seed_cache or work / "seed-cache",
            provision_delay=0.05,
            ops_step_delay=0.05,
            crds=crds,
        )
        env = common.dbaas_env(
            home=work,
            database_url=database_url,
            redis_url=redis_url,
            kubeconfig=sim.kubeconfig,
            backup_storage=STORAGE,
        )
        common.say("KubeStash's objects of one database, the real way (the templates)")
        templates = backup_seeding.make_templates(sim, seeded)
        with postgres.connect(database_url, autocommit=True) as conn:  # its policy: no drift
            conn.execute(
                "UPDATE databases SET backup = %s WHERE id = %s",
                (json.dumps(backup_seeding.POLICY.public()), seeded.ids[0]),
            )
        common.say("bytes per held object, whole and as a reading (tracemalloc)")
        held = backup_view_memory.measure(templates, seeded, databases=1_000)

        baseline = Phase("baseline")
        wait_quiet(sim)
        run_phase(
            baseline,
            sim=sim,
            work=work,
            env=env,
            database_url=database_url,
            redis_url=redis_url,
            seeded=seeded,
            sessions_kept=1,  # the template database's initial backup
            templates=None,
            args=args,
        )

        common.say("writing every database's backups into the sim's state")
        sim.service.stop(timeout=300)  # a clean stop writes the state file
        started = time.monotonic()
        written = backup_seeding.write_state(work / "sim-state.json", templates, seeded)
        with postgres.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM backups")
        backup_seeding.insert_rows(database_url, seeded, templates, written)
        common.say(
            f"{written.snapshots} Snapshots, {written.sessions} BackupSessions written in"
            f" {time.monotonic() - started:.1f}s"
        )
        started = time.monotonic()
        sim = common.start_sim(
            stack,
            work,
            provision_delay=0.05,
            ops_step_delay=0.05,
            crds=crds,
            extra=["--state", str(work / "sim-state.json"), "--state-interval", "86400"],
        )
        env["DBAAS_KUBECONFIG"] = str(sim.kubeconfig)
        common.say(f"sim loaded its state in {time.monotonic() - started:.1f}s")
        wait_quiet(sim)  # the sim's KubeStash resyncs every configuration after a load
        loaded = Phase("backups")
        run_phase(
            loaded,
            sim=sim,
            work=work,
            env=env,
            database_url=database_url,
            redis_url=redis_url,
            seeded=seeded,
            sessions_kept=written.sessions,
            templates=templates,
            args=args,
        )
    load_after = os.getloadavg()

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "-"

    rows: list[list[Any]] = []
    for measure, unit, key in (
        ("status-sync initial sync", "s", "initial_sync_s"),
        ("status-sync resync after 410", "s", "resync_s"),
        ("status-sync RSS after the initial sync", "MiB", "status_sync_rss_mib"),
        ("status-sync RSS after the resync", "MiB", "status_sync_rss_after_resync_mib"),
        ("status-sync peak RSS (VmHWM)", "MiB", "status_sync_peak_mib"),
        ("dbaas drift RSS after its first pass", "MiB", "drift_rss_mib"),
        ("sim RSS (not the pod)", "MiB", "sim_rss_mib"),
    ):
        a, b = getattr(baseline, key), getattr(loaded, key)
        rows.append([measure, unit, a, b, ratio(b, a)])
    for phase_key in ("seconds", "lists", "gets"):
        a, b = baseline.drift_pass[phase_key], loaded.drift_pass[phase_key]
        rows.append([f"drift full pass {phase_key}", "", a, b, ratio(b, a)])
    if loaded.propagation is not None and loaded.from_creation is not None:
        for label, summary in (
            ("Snapshot Succeeded -> row succeeded", loaded.propagation),
            ("BackupSession created -> row succeeded", loaded.from_creation),
        ):
            for stat in ("p50_ms", "p99_ms", "max_ms"):
                rows.append([f"{label} ({summary.count})", stat, "", getattr(summary, stat), ""])
    print(
        f"backups at scale: {args.databases} databases x {backup_seeding.SNAPSHOTS} Snapshots"
        f" ({written.snapshots} Snapshots, {written.sessions} BackupSessions); load average"
        f" {load[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(common.format_table(["measure", "unit", "baseline", "with backups", "ratio"], rows))
    print("bytes per object status-sync holds (tracemalloc, objects of 1,000 databases)")
    print(
        common.format_table(
            ["kind", "objects", "JSON bytes", "whole object (before)", "reading (now)", "ratio"],
            [
                [
                    kind,
                    f["objects"],
                    f["json_bytes_each"],
                    f["whole_bytes_each"],
                    f["reading_bytes_each"],
                    ratio(f["whole_bytes_each"], f["reading_bytes_each"]),
                ]
                for kind, f in held.items()
            ],
        )
    )
    print(
        common.json_line(
            "backups_scale",
            {
                "databases": args.databases,
                "snapshots": written.snapshots,
                "backup_sessions": written.sessions,
                "load_average": [load[0], load_after[0]],
                "held_bytes_per_object": held,
                "baseline": dataclasses.asdict(baseline),
                "backups": dataclasses.asdict(loaded),
            },
        )
    )
    return 1 if loaded.drift_pass["gets"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers of the benchmark scripts: processes, ports, throwaway stores, figures.

Why: every script under bench/ starts what it measures itself (a migrated throwaway
PostgreSQL database, a flushed Redis db, the simulated cluster, the programs as
subprocesses with `DBAAS_*` env) and must leave nothing behind, even when interrupted.
The pure parts (percentiles, summaries, the table and the JSON line) are unit-tested in
tests/unit/test_bench_common.py.

It never touches a database, Redis db or process it did not create: databases are named
`dbaas_bench_<random>`, the Redis db is the benchmark one (11 unless DBAAS_BENCH_REDIS_URL
says otherwise), and processes are stopped by the handle this module returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # scripts run as `python bench/x.py`: make `services` importable
    sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("DBAAS_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("DBAAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
KUBEDB_DIR = Path(os.environ.get("DBAAS_KUBEDB_DIR") or REPO.parent / "shared" / "kubedb")
PYTHON = sys.executable
SIM_READY_LINE = "dbaas sim: ready"


# -- figures (pure) --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks
    (numpy's default); NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


@dataclasses.dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies_s: Sequence[float]) -> LatencySummary:
    """Percentiles in milliseconds of latencies given in seconds."""
    ms = [value * 1000 for value in latencies_s]
    return LatencySummary(
        count=len(ms),
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms) if ms else math.nan,
    )


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0 or NaN."""
    if not denominator or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: columns padded to their widest cell, numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    numeric = [
        all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows)
        if rows
        else False
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return value


def json_line(benchmark: str, figures: Mapping[str, Any]) -> str:
    """The one machine-readable line a script ends with: `{"benchmark": ..., ...}`,
    NaN written as null, floats rounded to 4 places."""
    return json.dumps({"benchmark": benchmark, **_jsonable(figures)}, sort_keys=False)


def say(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table and the JSON line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- ports, waiting --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, *, timeout: float = 2.0, headers: Mapping[str, str] = {}) -> int:
    """The status code of a GET, 0 when the server cannot be reached."""
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        error.close()
        return int(error.code)
    except (OSError, urllib.error.URLError):
        return 0


def http_json(
    url: str, *, method: str = "GET", body: Any = None, headers: Mapping[str, str] = {}
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    alive: Callable[[], None] | None = None,
) -> float:
    """Poll `check` until true; the seconds it took. `alive` raises when a process died."""
    start = time.monotonic()
    while not check():
        if alive is not None:
            alive()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - start


# -- processes -------------------------------------------------------------------------------


class ProcessDied(RuntimeError):
    pass


@dataclasses.dataclass
class Service:
    """A subprocess this run started, in its own session (process group), logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ProcessDied(
                f"{self.name} exited with {self.process.returncode}; last log lines:\n"
                + tail(self.log)
            )

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM to the process itself (as supervisord does), then SIGKILL to its group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                say(f"{self.name} did not stop within {timeout:.0f}s: killing its group")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of its own group only
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_service(
    stack: contextlib.ExitStack,
    name: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    workdir: Path,
    cwd: Path = REPO,
) -> Service:
    """Start `command` in its own session; stopped when `stack` closes."""
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service = Service(name, process, log)
    stack.callback(service.stop)
    return service


def dbaas_command(*args: str) -> list[str]:
    return [PYTHON, "-m", "services.cli", *args]


UNLIMITED = {
    name: "0"
    for name in (
        "DBAAS_QUOTA_DATABASES",
        "DBAAS_QUOTA_STORAGE",
        "DBAAS_QUOTA_CPU",
        "DBAAS_QUOTA_MEMORY",
        "DBAAS_QUOTA_WAITING_OPERATIONS",
        "DBAAS_RATE_READS_PER_SECOND",
        "DBAAS_RATE_WRITES_PER_SECOND",
    )
}
"""Benchmarks seed 10,000 databases in one project and drive one key past any default
quota or rate; a benchmark that wants them sets them back through `settings`."""


def dbaas_env(
    *,
    home: Path,
    database_url: str,
    redis_url: str,
    kubeconfig: Path | None,
    **settings: str | int | float,
) -> dict[str, str]:
    """The environment of a dbaas program: ours minus any DBAAS_* of the caller, plus these.
    The log level stays the production default (INFO: one access line per API request)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env.pop("KUBECONFIG", None)
    env |= {
        "DBAAS_HOME": str(home),
        "DBAAS_DATABASE_URL": database_url,
        "DBAAS_REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    if kubeconfig is not None:
        env["DBAAS_KUBECONFIG"] = str(kubeconfig)
    env |= UNLIMITED
    env |= {f"DBAAS_{key.upper()}": str(value) for key, value in settings.items()}
    return env


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP end the run like Ctrl-C does, so every cleanup callback runs."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A private temporary directory (short path: supervisord's unix socket lives there)."""
    with tempfile.TemporaryDirectory(prefix="dbaas-bench-") as path:
        directory = Path(path)
        directory.chmod(0o700)
        yield directory


# -- throwaway stores ------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(*, migrated: bool = True) -> Iterator[str]:
    """The URL of a new database `dbaas_bench_<random>` (migrated), dropped afterwards."""
    import psycopg
    from psycopg import sql

    from services.store import migrating

    name = f"dbaas_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        if migrated:
            migrating.apply(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def benchmark_redis() -> Iterator[str]:
    """The benchmark Redis db URL, flushed before and after, held exclusively for the run.

    Two benchmark runs on one host would flush each other's queue (and skew each other's
    figures), so a run first takes an exclusive lock file named after the db, waiting for
    a run that holds it to finish."""
    import fcntl

    import redis

    lock_path = Path(tempfile.gettempdir()) / (
        "dbaas-bench-redis-" + REDIS_URL.replace("/", "_").replace(":", "_") + ".lock"
    )
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another benchmark run holds {REDIS_URL} ({lock_path}); waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        try:
            yield REDIS_URL
        finally:
            client.flushdb()
            client.close()


# -- the simulated cluster and the programs --------------------------------------------------


@dataclasses.dataclass
class Sim:
    url: str
    kubeconfig: Path
    service: Service

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = http_json(self.url + "/sim/stats")
        return stats

    def object_count(self, plural: str) -> int:
        """Objects of one resource (all namespaces), e.g. `postgreses.kubedb.com`."""
        counts: dict[str, int] = self.stats()["objects"]
        return sum(n for key, n in counts.items() if key.split("/")[-1].startswith(plural))

    def ops_requests_created(self) -> dict[str, int]:
        """OpsRequest creations per `namespace/name` since the sim started or its counters
        were reset (creations, not objects: one created twice counts 2)."""
        created: dict[str, int] = self.stats()["opsrequests_created"]
        return created

    def reset_stats(self) -> None:
        """Zero the request and OpsRequest counters (the objects stay)."""
        http_json(self.url + "/sim/stats", method="DELETE")


def ops_requests_per_database(created: Mapping[str, int]) -> dict[str, int]:
    """OpsRequest creations (`/sim/stats` "opsrequests_created") per `namespace/database`:
    dbaas names an OpsRequest `<database>-<type word>-<12 hex of the operation id>`."""
    per_database: dict[str, int] = {}
    for key, count in created.items():
        namespace, _, name = key.rpartition("/")
        stem, _, rest = name.rpartition("-")
        database, _, _word = stem.rpartition("-")
        if not database or len(rest) != 12:
            raise ValueError(f"{key!r} is not an OpsRequest name dbaas makes")
        owner = f"{namespace}/{database}"
        per_database[owner] = per_database.get(owner, 0) + count
    return per_database


def start_sim(
    stack: contextlib.ExitStack,
    work: Path,
    *,
    provision_delay: float = 1.0,
    ops_step_delay: float = 0.5,
    extra: Sequence[str] = (),
    nice: int = 0,
    crds: Path | None = None,
) -> Sim:
    """`dbaas sim` on a free port, validating against the real CRDs (`crds`, else KubeDB's);
    waits for its ready line. `nice` > 0 runs it under `nice -n` (the cluster is not part
    of the pod: a what-if that keeps its CPU from competing with the pod's programs on a
    small host)."""
    kubeconfig = work / "kubeconfig"
    crds = crds or KUBEDB_DIR / "crds"
    if not crds.is_dir():
        raise SystemExit(f"bench: the KubeDB CRDs are not at {crds} (set DBAAS_KUBEDB_DIR)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env |= {"DBAAS_HOME": str(work), "PYTHONUNBUFFERED": "1"}
    command = dbaas_command(
        "sim",
        "--port", "0",
        "--kubeconfig", str(kubeconfig),
        "--crds", str(crds),
        "--crd-cache", str(REPO / ".dbaas" / "cache" / "crds"),
        "--provision-delay", str(provision_delay),
        "--ops-step-delay", str(ops_step_delay),
        *extra,
    )  # fmt: skip
    if nice:
        command = ["nice", "-n", str(nice), *command]
    service = start_service(stack, "sim", command, env=env, workdir=work)
    fields: dict[str, str] = {}

    def ready() -> bool:
        for line in service.log.read_text(errors="replace").splitlines():
            if line.startswith(SIM_READY_LINE):
                for part in line.split()[3:]:
                    name, _, value = part.partition("=")
                    fields[name] = value
                return True
        return False

    wait_until("the simulated cluster", ready, timeout=60, alive=service.check_alive)
    return Sim(fields["url"], kubeconfig, service)


def start_api(
    stack: contextlib.ExitStack,
    work: Path,
    env: Mapping[str, str],
    *,
    name: str = "api",
    cwd: Path = REPO,
) -> tuple[Service, str]:
    """`dbaas api` with the given env (port from DBAAS_API_PORT); waits for /healthz 200."""
    base = f"http://127.0.0.1:{env['DBAAS_API_PORT']}"
    service = start_service(stack, name, dbaas_command("api"), env=env, workdir=work, cwd=cwd)
    wait_until(
        "the API",
        lambda: http_status(base + "/healthz") == 200,
        timeout=60,
        alive=service.check_alive,
    )
    return service, base


def start_baseline(
    stack: contextlib.ExitStack,
    work: Path,
    database_url: str,
    *,
    project: str,
    driver: str = "async",
    workers: int = 1,
) -> tuple[str, int]:
    """bench/baseline_app.py (bare Starlette + Hypercorn + psycopg) serving `project`;
    waits until it answers; its base URL and pid."""
    port = free_port()
    env = dbaas_env(home=work, database_url=database_url, redis_url="", kubeconfig=None)
    env |= {
        "BENCH_BASELINE_DATABASE_URL": database_url,
        "BENCH_BASELINE_PROJECT": project,
        "BENCH_BASELINE_PORT": str(port),
        "BENCH_BASELINE_WORKERS": str(workers),
        "BENCH_BASELINE_DRIVER": driver,
    }
    command = [PYTHON, str(REPO / "bench" / "baseline_app.py")]
    service = start_service(stack, f"baseline-{driver}", command, env=env, workdir=work)
    base = f"http://127.0.0.1:{port}"
    wait_until(
        f"the {driver} baseline app",
        lambda: http_status(base + "/v1/databases?limit=1") == 200,
        timeout=60,
        alive=service.check_alive,
    )
    return base, service.pid


def create_api_key(database_url: str, *, project: str, role: str = "admin") -> str:
    from services.clients import postgres
    from services.store import keys

    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id=project, role=role, description="benchmark")
        conn.commit()
    return token


def database_backends(database_url: str) -> list[int]:
    """Process ids of the PostgreSQL server processes connected to `database_url`'s database
    (the programs' pooled connections), for their CPU time; the server must be on this host."""
    import psycopg

    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [int(row[0]) for row in rows]


# -- memory (Linux /proc) --------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (all its threads'), from /proc."""
    result: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                result.extend(int(p) for p in (task / "children").read_text().split())
    return result


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(children_of(pid))
    return seen


def parse_kib_fields(text: str, names: Sequence[str]) -> dict[str, int]:
    """`Name:   1234 kB` lines (status, smaps_rollup) → {name: KiB} for the names asked."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0])
    return values


@dataclasses.dataclass(frozen=True)
class Memory:
    processes: int
    rss_mib: float
    pss_mib: float
    """NaN when /proc/<pid>/smaps_rollup cannot be read."""


def tree_memory(root: int) -> Memory:
    rss_kib = pss_kib = 0
    pss_known = True
    pids = process_tree(root)
    counted = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # exited meanwhile
        counted += 1
        rss_kib += parse_kib_fields(status, ["VmRSS"]).get("VmRSS", 0)
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss_kib += parse_kib_fields(rollup, ["Pss"]).get("Pss", 0)
        except OSError:
            pss_known = False
    return Memory(counted, rss_kib / 1024, pss_kib / 1024 if pss_known else math.nan)


def parse_cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat; the command name
    (field 2) may hold spaces and parentheses, so fields are counted after its last ')'."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of the whole line


def tree_cpu_seconds(root: int) -> float:
    """CPU time used so far by `root` and its live descendants (user + system)."""
    ticks = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ticks += parse_cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
    return ticks / os.sysconf("SC_CLK_TCK")


def process_names(pids: Sequence[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            names[pid] = " ".join(part.decode(errors="replace") for part in raw if part)
    return names

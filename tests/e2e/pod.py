"""The whole pod on the host, for end-to-end and fault tests; no test here.

What runs is what a container runs: the launcher (`python -m services.supervision.supervise
-c supervisord.conf`, the repository's file unchanged) with the four programs under the real
supervisord, which ends the pod itself when one goes FATAL. Around it the test provides a
short DBAAS_HOME (unix socket paths are limited to 107 bytes), a migrated database, a Redis
db, the simulated cluster's kubeconfig and a free API port; `Pod` gives it an admin API key
and the handles a fault test needs: supervisorctl, program pids, kill -9, SIGTERM to the
whole pod, the API over HTTP with retries, and the processes still alive that carry this
pod's DBAAS_HOME.

It never touches a process it did not start: every pid it signals is one supervisord or the
launcher reported for this pod, and the leak check reads only this pod's DBAAS_HOME.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from services.clients import postgres
from services.store import keys
from services.supervision import marker, states
from tests.api_harness import free_port

REPO = Path(__file__).resolve().parents[2]
SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
PROGRAMS = ("api", "worker", "status-sync", "drift")
"""supervisord.conf's programs; `worker` runs DBAAS_WORKER_PROCESSES processes (numprocs)."""
WORKER_PROCESSES = int(os.environ.get("DBAAS_TEST_WORKER_PROCESSES") or "1")
"""Worker processes of every pod a test starts unless it says otherwise: 1 as deployed, more
to run the fault and end-to-end suites against several (`DBAAS_TEST_WORKER_PROCESSES=3`)."""
PROJECT = "acme"
T = TypeVar("T")

# Short enough that a killed worker's operation is resumed within seconds, long enough for
# one job (a few Kubernetes calls and up to 5 s of retry backoff, lease extended meanwhile).
LEASE_SECONDS = 8
REDISPATCH_SECONDS = 3


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll `probe` until it returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Pod:
    """One pod: the launcher as a child process, its DBAAS_HOME, its API."""

    def __init__(
        self,
        home: Path,
        *,
        database_url: str,
        redis_url: str,
        kubeconfig: Path,
        env: dict[str, str] | None = None,
        key: str | None = None,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.redis_url = redis_url
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = home / "pod.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
        settings = {
            "DBAAS_HOME": str(home),
            "DBAAS_DATABASE_URL": database_url,
            "DBAAS_REDIS_URL": redis_url,
            "DBAAS_KUBECONFIG": str(kubeconfig),
            "DBAAS_API_HOST": "127.0.0.1",
            "DBAAS_API_PORT": str(self.api_port),
            "DBAAS_QUEUE_NAME": f"pod-{uuid.uuid4().hex[:8]}",
            "DBAAS_OPERATION_LEASE_SECONDS": str(LEASE_SECONDS),
            "DBAAS_PENDING_REDISPATCH_SECONDS": str(REDISPATCH_SECONDS),
            "DBAAS_OPSREQUEST_RETENTION_SECONDS": "2",
            "DBAAS_DRIFT_INTERVAL_SECONDS": "2",
            "DBAAS_LOG_LEVEL": "INFO",
            "DBAAS_WORKER_PROCESSES": str(WORKER_PROCESSES),
        }
        self.env = inherited | settings | (env or {})
        self.worker_processes = int(self.env["DBAAS_WORKER_PROCESSES"])
        self.key = key or admin_key(database_url)

    # -- the launcher ----------------------------------------------------------------------

    def start(self) -> None:
        """Run the launcher (its output appended to pod.log, so a restart keeps the first)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as sink:
            sink.write(f"==== pod start {self.starts} ====\n".encode())
            sink.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.supervision.supervise", "-c", "supervisord.conf"],
                cwd=REPO,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Every program RUNNING, and /readyz 200."""

        def ready() -> bool:
            self.assert_alive()
            if not all(s == states.RUNNING for s in self.all_states().values()):
                return False
            try:
                return httpx.get(f"{self.api_url}/readyz", timeout=3.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=timeout, what=f"the pod to be ready ({self.all_states()})")

    def assert_alive(self) -> None:
        if not self.alive:
            raise AssertionError(f"the pod exited ({self.returncode()}):\n{self.log_tail()}")

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self, *, timeout: float) -> tuple[int, float]:
        """SIGTERM to the launcher (supervisord, PID 1 in a container): exit code, seconds."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"the pod did not stop within {timeout}s") from exc
        return code, time.monotonic() - started

    def wait_exit(self, *, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def fatal_reason(self) -> str | None:
        return marker.read(self.home)

    # -- supervisord -----------------------------------------------------------------------

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """supervisorctl with the repository's config, as an operator types it."""
        result = subprocess.run(
            [SUPERVISORCTL, "-c", "supervisord.conf", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def all_states(self) -> dict[str, str]:
        try:
            return states.program_states(self.home / "supervisor.sock", timeout=2.0)
        except states.SupervisorUnavailable:
            return {}

    def process_names(self, program: str | None = None) -> list[str]:
        """The names supervisord gives the processes (of `program`): `api`, `worker-0`...;
        its log says `stopped: worker-0 (...)`, and they beat under these names."""
        return [spec.rpartition(":")[2] for spec in self.specs(program)]

    def specs(self, program: str | None = None) -> list[str]:
        """supervisorctl's names of the processes (of `program`): `api`, `worker:worker-0`..."""
        found = []
        for name in PROGRAMS if program is None else (program,):
            if name == "worker":
                found += [f"worker:worker-{n}" for n in range(self.worker_processes)]
            else:
                found.append(name)
        return found

    def spec(self, program: str) -> str:
        """The one process of `program` (`worker` means worker-0 when it runs alone), or a
        process's supervisorctl name as given (`worker:worker-1`)."""
        if ":" in program:
            return program
        specs = self.specs(program)
        assert len(specs) == 1, f"{program} runs {len(specs)} processes: name one of {specs}"
        return specs[0]

    def state(self, program: str) -> str | None:
        return self.all_states().get(self.spec(program))

    def pid(self, program: str) -> int:
        """The program's (or process's) pid as supervisord knows it (0 when not running)."""
        output = self.ctl("pid", self.spec(program), check=False).stdout.strip()
        return int(output) if output.isdigit() else 0

    def kill(self, program: str, sig: int = signal.SIGKILL) -> int:
        """Signal the program's process (kill -9 by default: a crash); its pid."""
        pid = wait_for(lambda: self.pid(program), timeout=30, what=f"{program} to have a pid")
        os.kill(pid, sig)
        return pid

    def status(self, program: str) -> tuple[str, int]:
        """State and pid from ONE `supervisorctl status` answer (two calls could straddle a
        restart: the old process's RUNNING with the new process's pid)."""
        output = self.ctl("status", self.spec(program), check=False).stdout
        fields = output.replace(",", " ").split()
        state = fields[1] if len(fields) > 1 else "UNKNOWN"
        pid = int(fields[3]) if len(fields) > 3 and fields[2] == "pid" else 0
        return state, pid

    def wait_back(self, program: str, old_pid: int, *, timeout: float = 40.0) -> int:
        """Wait until supervisord runs `program` again under a new pid; the new pid."""

        def back() -> int:
            self.assert_alive()
            state, pid = self.status(program)
            return pid if state == states.RUNNING and pid not in (0, old_pid) else 0

        return wait_for(back, timeout=timeout, what=f"{program} to run again")

    # -- what is left ----------------------------------------------------------------------

    def processes(self) -> dict[int, str]:
        """Live processes (pid -> command line) whose environment carries this DBAAS_HOME."""
        needle = f"DBAAS_HOME={self.home}\0".encode()
        found: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes()
                status = (entry / "status").read_text()
            except OSError:
                continue
            if needle in environ and "State:\tZ" not in status:
                found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        return found

    def children(self, pid: int) -> set[int]:
        """This pod's processes whose parent is `pid`."""
        found = set()
        for child in self.processes():
            try:
                stat = Path(f"/proc/{child}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(child)
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, size: int = 6000) -> str:
        return self.log()[-size:]

    # -- the API ---------------------------------------------------------------------------

    def client(self, *, timeout: float = 10.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry_seconds: float = 60.0,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """One API request, repeated while the API is unreachable or answers 503.

        Safe to repeat for what the fault tests send: creates carry an Idempotency-Key, and
        a PATCH to values already desired changes nothing.
        """
        deadline = time.monotonic() + retry_seconds
        with contextlib.ExitStack() as stack:
            http = client or stack.enter_context(self.client())
            while True:
                try:
                    response = http.request(method, path, json=json, headers=headers)
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                else:
                    if response.status_code not in (502, 503) or time.monotonic() > deadline:
                        return response
                time.sleep(0.2)

    def database(self, database_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/v1/databases/{database_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def admin_key(database_url: str) -> str:
    """A new admin key of PROJECT (the project is created with it)."""
    with postgres.connect(database_url) as conn:
        return keys.create(conn, project_id=PROJECT, role="admin", description="pod")


@contextlib.contextmanager
def short_home(prefix: str = "dbaas-pod-") -> Iterator[Path]:
    """A DBAAS_HOME short enough for the supervisor socket, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running_pod(
    home: Path,
    *,
    database_url: str,
    redis_url: str,
    kubeconfig: Path,
    env: dict[str, str] | None = None,
    key: str | None = None,
    start: bool = True,
    ready: bool = True,
) -> Iterator[Pod]:
    """Start a pod (and wait until it is ready); stop it and check nothing is left behind.

    `start=False` yields the pod unstarted (the test starts it); `ready=False` does not wait.
    """
    pod = Pod(
        home,
        database_url=database_url,
        redis_url=redis_url,
        kubeconfig=kubeconfig,
        env=env,
        key=key,
    )
    try:
        if start:
            pod.start()
        if start and ready:
            pod.wait_ready()
        yield pod
    finally:
        try:
            stop_and_reap(pod)
        finally:
            # pytest shows a test's captured stderr only when it failed: then this is the story
            sys.stderr.write(f"---- end of the pod's log ({pod.log_path})\n{pod.log_tail(30000)}\n")
            keep = os.environ.get("DBAAS_POD_LOG_DIR")  # for a person reading a run
            if keep and pod.log_path.exists():
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(pod.log_path, Path(keep) / f"{home.name}.log")


def stop_and_reap(pod: Pod) -> None:
    """SIGTERM the launcher if it still runs; SIGKILL whatever of this pod survives."""
    if pod.process is None:
        return
    if pod.alive:
        with contextlib.suppress(AssertionError):
            pod.terminate(timeout=90)
    if pod.alive:
        assert pod.process is not None
        pod.process.kill()
        pod.process.wait()
    leftovers = pod.processes()
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes of the pod outlived it: {leftovers}"

"""Load generators: `wrk` for saturating throughput, a fixed-rate asyncio client for latency.

Why two: on a 2-core machine a Python client saturating Hypercorn would eat the CPU the
server needs and measure itself; `wrk` (C, one thread, epoll) costs a few percent of one
core at the rates the API reaches, and the API and the baseline are driven by the same
client, so the ratio is fair. `wrk` is closed-loop: its p99 at saturation is queueing (
connections / throughput). For "latency while something else runs" we want an open loop
instead: requests at a fixed rate well below capacity, each latency measured from the
moment it was due (so a stall is not hidden by the client waiting: no coordinated
omission). At ~200 requests/s that costs this process a few percent of a core.

Never starts or stops a server; it only sends requests to one it is given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import multiprocessing
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

WRK_MARKER = "WRK_JSON "

_WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
%(headers)s
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


class WrkMissing(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float
    errors: int
    """Socket errors, timeouts and non-2xx/3xx responses."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(
            "bench: this benchmark drives the servers with `wrk`, which is not installed; "
            "install it (Debian/Ubuntu: apt-get install -y wrk) and run again"
        )
    return path


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def wrk_script(paths: Sequence[str], headers: Mapping[str, str]) -> str:
    """The Lua script: round-robin over `paths`, fixed headers, a JSON summary line."""
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    return _WRK_SCRIPT % {
        "paths": ",".join(_lua_string(p) for p in paths),
        "headers": "\n".join(lines),
        "marker": WRK_MARKER,
    }


def parse_wrk_output(output: str) -> Throughput:
    """The summary our script's `done` printed; raises ValueError when there is none."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            data = json.loads(line[len(WRK_MARKER) :])
            errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
            return Throughput(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                errors=errors,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
            )
    raise ValueError(f"no wrk summary in its output:\n{output[-2000:]}")


def run_wrk(
    base_url: str,
    paths: Sequence[str],
    *,
    seconds: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
    threads: int = 1,
) -> Throughput:
    """Saturate `base_url` with GETs of `paths` (round-robin) for `seconds`."""
    wrk = require_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(wrk_script(paths, headers or {}))
        script = Path(handle.name)
    try:
        command = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout", "10s",
            "-s", str(script),
            base_url,
        ]  # fmt: skip
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        script.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return parse_wrk_output(completed.stdout)


# -- the fixed-rate client -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    due: float
    """time.monotonic() at which the request was due."""
    latency: float
    """Seconds from `due` to the end of the response."""
    status: int


def _request_bytes(host: str, path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) after reading one whole response (Content-Length bodies)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, keep_alive = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    if length:
        await reader.readexactly(length)
    return status, keep_alive


class FixedRateClient:
    """GETs at `rate` per second over up to `connections` keep-alive connections, in a
    process of its own, until stopped. Every sample is kept with its due time, so a caller
    can cut the run into phases after `stop` (which brings the samples back).

    A process, not a thread: the caller keeps working while the load runs (polling progress
    in PostgreSQL, reading logs), and in a thread that work would hold the GIL over the
    client's clock, adding its own pauses to the latencies of whichever phase it polls in.
    time.monotonic() is one clock for every process, so due times compare across them."""

    def __init__(
        self,
        base_url: str,
        paths: Sequence[str],
        *,
        rate: float,
        connections: int = 16,
        headers: Mapping[str, str] | None = None,
        start: float | None = None,
    ) -> None:
        """`start`: time.monotonic() of the first due request (default: as soon as the
        process runs); two clients given starts half an interval apart never send together."""
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.requests = [
            _request_bytes(f"{self.host}:{self.port}", p, headers or {}) for p in paths
        ]
        self.interval = 1.0 / rate
        self.connections = connections
        self.start = start
        self.samples: list[Sample] = []
        self.errors = 0
        context = multiprocessing.get_context("fork")  # the schedule is built: just run it
        self._stop = context.Event()
        self._results, results = context.Pipe(duplex=False)
        self._process = context.Process(
            target=self._run, args=(results,), name="fixed-rate-client", daemon=True
        )

    def __enter__(self) -> FixedRateClient:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending; the samples and the error count come back from the process."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._results.poll(60):
            self.samples, self.errors = self._results.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.due < end]

    def _run(self, results: Connection) -> None:
        asyncio.run(self._main())
        results.send((self.samples, self.errors))

    async def _main(self) -> None:
        start = self.start if self.start is not None else time.monotonic() + 0.05
        tickets = iter(range(10**12))
        tasks = [
            asyncio.create_task(self._connection(start, tickets), name=f"client-{i}")
            for i in range(self.connections)
        ]
        await asyncio.gather(*tasks)

    async def _connection(self, start: float, tickets: Iterator[int]) -> None:
        """One keep-alive connection taking the next due request of the shared schedule."""
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while not self._stop.is_set():
            ticket = next(tickets)
            due = start + ticket * self.interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._stop.is_set():
                break
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(self.requests[ticket % len(self.requests)])
                await writer.drain()
                status, keep_alive = await asyncio.wait_for(_read_response(reader), 30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                self.errors += 1
                status, keep_alive = 0, False
            self.samples.append(Sample(due, time.monotonic() - due, status))
            if not keep_alive and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

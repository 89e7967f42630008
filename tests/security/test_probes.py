"""The probes of the second hardening round against `dbaas api` as supervisord runs it.

Log forging through the path (`%0a`, `%1b`), the JSON log format, a thousand uploads the
client aborts mid-body (one line each, counted 499, no traceback), bodies nested deeper
than any real one, a redirect built from the client's `Host`, and a body trickled too
slowly (408, connection closed). Each reads the program's own stderr, as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.api import bodies
from services.clients import postgres
from services.store import keys
from tests.api_harness import free_port, wait_until

PROBLEM_BASE = "https://dbaas.dev/problems/"


class ApiProgram:
    def __init__(self, process: subprocess.Popen[bytes], *, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@pytest.fixture
def start_api(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., ApiProgram]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> ApiProgram:
        port = free_port()
        log = tmp_path / f"api-{port}.log"
        environ = {
            **os.environ,
            "DBAAS_DATABASE_URL": database_url,
            "DBAAS_REDIS_URL": redis_url,
            "DBAAS_HOME": str(tmp_path / "home"),
            "DBAAS_KUBECONFIG": str(tmp_path / "no-cluster"),
            "DBAAS_API_PORT": str(port),
            "DBAAS_PROGRAM": "api",
            **env,
        }
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "api"],
                env=environ,
                stdout=sink,
                stderr=sink,
            )
        started.append(process)
        program = ApiProgram(process, port=port, log=log)

        def healthy() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{program.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=30)
        return program

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def raw_request(port: int, request: bytes) -> bytes:
    """Send `request` as written (no client normalises the path) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def admin_key(database_url: str) -> str:
    with postgres.connect(database_url) as conn:
        return keys.create(conn, project_id="alpha", role="admin")


def samples(program: ApiProgram, status: str) -> int:
    text = httpx.get(f"{program.url}/metrics", timeout=5).text
    total = 0
    for line in text.splitlines():
        if line.startswith("dbaas_api_requests_total{") and f'status="{status}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_a_path_cannot_forge_a_log_line_or_write_a_terminal_escape(
    start_api: Callable[..., ApiProgram],
) -> None:
    program = start_api()
    fake = b"2026-01-01 api INFO services.api.access: FORGED".replace(b" ", b"%20")
    forged = b"GET /healthz%0a" + fake + b" HTTP/1.1\r\n"
    escape = b"GET /healthz%1b[2J%0d HTTP/1.1\r\n"
    for line in (forged, escape):
        answer = raw_request(program.port, line + b"Host: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 404"), answer
    wait_until(lambda: sum(" 404 " in line for line in program.lines()) >= 2)
    text = program.log.read_text()
    assert "\x1b" not in text and "\r" not in text
    assert not any(line.startswith("2026-01-01") for line in text.splitlines())
    assert "GET /healthz\\n2026-01-01 api INFO services.api.access: FORGED 404" in text
    assert "GET /healthz\\x1b[2J\\r 404" in text


def test_the_json_log_format_writes_one_object_per_line_with_the_request_fields(
    start_api: Callable[..., ApiProgram],
) -> None:
    program = start_api(DBAAS_LOG_FORMAT="json")
    raw_request(program.port, b"GET /x%0ay%1b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    wait_until(lambda: any("/x" in line for line in program.lines()))
    documents = [json.loads(line) for line in program.lines()]  # every line is one object
    access = [doc for doc in documents if doc["logger"] == "services.api.access"]
    assert {"method": "GET", "path": "/x\ny\x1b", "status": 404}.items() <= access[-1].items()
    assert {doc["program"] for doc in documents} == {"api"}
    assert all(doc["time"].endswith("Z") and doc["level"] for doc in documents)


def test_a_thousand_aborted_uploads_are_499_lines_without_a_traceback(
    start_api: Callable[..., ApiProgram], database_url: str
) -> None:
    program = start_api()
    key = admin_key(database_url).encode()
    head = (
        b"POST /v1/databases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    aborted = 1000
    for _ in range(aborted):
        with socket.create_connection(("127.0.0.1", program.port), timeout=10) as sock:
            sock.sendall(head + b'{"name": "')
    wait_until(lambda: samples(program, "499") == aborted, timeout=60)
    assert samples(program, "500") == 0
    text = program.log.read_text()
    assert "Traceback" not in text
    assert sum(" POST /v1/databases 499 " in line for line in text.splitlines()) == aborted


@pytest.mark.parametrize("depth", [bodies.MAX_DEPTH + 1, 980, 5000])
def test_a_body_nested_deeper_than_any_real_one_is_422_before_it_is_parsed(
    start_api: Callable[..., ApiProgram], database_url: str, depth: int
) -> None:
    program = start_api()
    headers = {
        "Authorization": f"Bearer {admin_key(database_url)}",
        "Content-Type": "application/json",
        "Idempotency-Key": "deep",  # the request hash recursed over the body (a 500)
    }
    body = "[" * depth + "]" * depth
    for method, path in (("POST", "/v1/databases"), ("PATCH", f"/v1/databases/{'0' * 32}")):
        answer = httpx.request(method, program.url + path, content=body, headers=headers)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["type"] == PROBLEM_BASE + "body-too-deep"
        assert problem["max_depth"] == bodies.MAX_DEPTH
    assert "Traceback" not in program.log.read_text()


def test_a_trailing_slash_is_never_redirected_to_the_client_s_host(
    start_api: Callable[..., ApiProgram], database_url: str
) -> None:
    program = start_api()
    key = admin_key(database_url).encode()
    answer = raw_request(
        program.port,
        b"GET /v1/databases/ HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer "
        + key
        + b"\r\nConnection: close\r\n\r\n",
    )
    status_line, _, rest = answer.partition(b"\r\n")
    assert not status_line.startswith(b"HTTP/1.1 3"), answer
    assert b"evil.example" not in rest.split(b"\r\n\r\n", 1)[0], answer


def test_a_body_trickled_slower_than_the_body_timeout_is_408_and_the_connection_closed(
    start_api: Callable[..., ApiProgram], database_url: str
) -> None:
    program = start_api(DBAAS_BODY_TIMEOUT_SECONDS="1")
    key = admin_key(database_url).encode()
    with socket.create_connection(("127.0.0.1", program.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/databases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        answer = b""
        sock.settimeout(0.3)
        for _ in range(200):  # a byte every 0.3 s, far fewer than the 100 announced
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body)["type"] == PROBLEM_BASE + "request-timeout"

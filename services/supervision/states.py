"""Read supervisord's view of its programs over the unix control socket, for /readyz.

XML-RPC `supervisor.getAllProcessInfo` over `$DBAAS_HOME/supervisor.sock`, with a timeout:
a wedged supervisord must make /readyz answer 503 quickly, never hang it. The call is
blocking; async callers run it in a thread. It only reads: it never starts or stops a
program.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any, cast

RUNNING = "RUNNING"


class SupervisorUnavailable(Exception):
    """supervisord did not answer on its socket (absent, refused, timed out, faulted)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: Path, *, timeout: float) -> None:
        super().__init__()
        self._socket_path = socket_path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = _UnixConnection(self._socket_path, timeout=self._timeout)
        self._connection = (host, connection)  # so that Transport.close() closes it
        return connection


def program_states(socket_path: Path | str, *, timeout: float = 2.0) -> dict[str, str]:
    """Map each supervised process to its state name (RUNNING, STARTING, BACKOFF, FATAL...).

    Programs are keyed by their name (`api`, `worker`, `status-sync`, `drift`). A process
    inside a multi-process group would be keyed `group:name`, as supervisorctl shows it.
    """
    proxy = xmlrpc.client.ServerProxy(
        "http://localhost", transport=_UnixTransport(Path(socket_path), timeout=timeout)
    )
    try:
        with proxy:
            infos = cast(list[dict[str, Any]], proxy.supervisor.getAllProcessInfo())
    except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
        raise SupervisorUnavailable(f"supervisord at {socket_path}: {exc}") from exc
    states: dict[str, str] = {}
    for info in infos:
        name, group = str(info["name"]), str(info["group"])
        states[name if name == group else f"{group}:{name}"] = str(info["statename"])
    return states


def not_running(states: dict[str, str], programs: tuple[str, ...]) -> dict[str, str]:
    """The expected programs that are not RUNNING (a missing one shows as MISSING)."""
    return {
        program: states.get(program, "MISSING")
        for program in programs
        if states.get(program) != RUNNING
    }

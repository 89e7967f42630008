"""The heartbeat watchdog inside a real supervisord: a program frozen with SIGSTOP stops
beating, is killed and started again by supervisord; a program that never beats (the api)
is left alone, frozen or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor.xmlrpc import SupervisorTransport

from services.supervision import heartbeats
from tests.container import supervisord_conf

BEATER = """
import os, sys, time
from pathlib import Path
from services.supervision import heartbeats
beater = heartbeats.Heartbeater(Path(os.environ["DBAAS_HOME"]), "beater")
while True:
    beater.beat()
    time.sleep(0.2)
"""

CONFIG = """
[unix_http_server]
file={home}/supervisor.sock
chmod=0700
[supervisord]
nodaemon=true
logfile=/dev/null
logfile_maxbytes=0
pidfile={home}/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[rpcinterface:dbaas]
supervisor.rpcinterface_factory = services.supervision.fatal:make_rpcinterface
home = {home}
programs = beater
[program:beater]
command={python} {home}/beater.py
autorestart=true
startsecs=1
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
redirect_stderr=true
[program:silent]
command=sleep 600
autorestart=true
startsecs=1
"""


@pytest.fixture
def supervised() -> Iterator[tuple[Path, xmlrpc.client.ServerProxy, Path]]:
    with tempfile.TemporaryDirectory(prefix="dbaas-wd-") as name:
        home = Path(name)
        (home / "beater.py").write_text(BEATER)
        config = home / "supervisord.conf"
        config.write_text(CONFIG.format(home=home, python=sys.executable))
        output = home / "output.log"
        env = os.environ | {
            "DBAAS_HOME": str(home),
            "DBAAS_MIGRATE_ON_START": "false",
            "DBAAS_HEARTBEAT_TIMEOUT_SECONDS": "2",
            "PYTHONPATH": str(supervisord_conf.REPO_ROOT),
        }
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.supervision.supervise", "-c", str(config)],
                cwd=supervisord_conf.REPO_ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        transport = SupervisorTransport(None, None, f"unix://{home}/supervisor.sock")
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            yield home, proxy, output
        finally:
            transport.close()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _pids(proxy: xmlrpc.client.ServerProxy) -> dict[str, int]:
    try:
        infos = proxy.supervisor.getAllProcessInfo()
    except OSError:
        return {}
    return {i["name"]: i["pid"] for i in infos if i["statename"] == "RUNNING"}  # type: ignore[union-attr]


def _until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_a_frozen_program_is_killed_and_started_again_and_a_silent_one_is_left_alone(
    supervised: tuple[Path, xmlrpc.client.ServerProxy, Path],
) -> None:
    home, proxy, output = supervised

    def beating() -> bool:
        beat = heartbeats.read(home, "beater")
        return beat is not None and beat.pid == _pids(proxy).get("beater")

    _until(lambda: beating() and "silent" in _pids(proxy), timeout=30, what="both RUNNING")
    before = _pids(proxy)
    os.kill(before["beater"], signal.SIGSTOP)
    os.kill(before["silent"], signal.SIGSTOP)
    started = time.monotonic()
    try:
        _until(
            lambda: _pids(proxy).get("beater") not in (None, before["beater"]) and beating(),
            timeout=60,
            what="the frozen beater replaced by a new, beating process",
        )
        print(
            f"\nfrozen beater replaced after {time.monotonic() - started:.1f} s (limit 2 s + tick)"
        )
        after = _pids(proxy)
        assert proxy.dbaas.getWatchdogRestarts() == ["beater"]
        assert after["silent"] == before["silent"]  # never beat: not the watchdog's to judge
        log = output.read_text(errors="replace")
        assert f"dbaas: program beater (pid {before['beater']}) has not beaten for" in log
    finally:
        os.kill(before["silent"], signal.SIGCONT)

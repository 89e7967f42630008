"""supervisord.conf's contract, and the real supervisord running it.

The first half reads supervisord.conf (interpolation off) and checks what operators and
Kubernetes rely on. The second half runs the real supervisord through our launcher with the
real [unix_http_server], [supervisord], [supervisorctl] and [eventlistener] sections and the
real [program:*] sections, only their `command` swapped for a small stand-in program: the
dbaas programs are tested elsewhere, here the supervision around them is.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.supervision import fatal_listener, marker, protocol, states, supervise
from tests.container import supervisord_conf

CONF = supervisord_conf.load()
SECTIONS = supervisord_conf.process_sections(CONF)
SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")

# A stand-in for a dbaas program: records its name (from DBAAS_PROGRAM, as supervisord
# passes it) when SIGTERM arrives, then exits like a warm shutdown.
STAND_IN = """\
import os, signal, sys, time
log = sys.argv[1]
def stop(signum, frame):
    with open(log, "a") as handle:
        handle.write(os.environ["DBAAS_PROGRAM"] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(os.environ["DBAAS_PROGRAM"], "started", flush=True)
while True:
    time.sleep(0.2)
"""


# ---- the file ---------------------------------------------------------------------------


def test_the_config_defines_the_four_programs_and_the_fatal_listener_by_contract_names() -> None:
    programs = {s.partition(":")[2] for s in CONF.sections() if s.startswith("program:")}
    listeners = {s.partition(":")[2] for s in CONF.sections() if s.startswith("eventlistener:")}
    assert programs == set(supervisord_conf.PROGRAMS)
    assert listeners == {supervisord_conf.LISTENER}
    for program in supervisord_conf.PROGRAMS:
        assert CONF[f"program:{program}"]["command"] == f"dbaas {program}"


def test_every_process_logs_unrotated_to_the_container_streams() -> None:
    for name in supervisord_conf.PROGRAMS:
        section = SECTIONS[name]
        assert section["stdout_logfile"] == "/dev/stdout", name
        assert section["stdout_logfile_maxbytes"] == "0", name
        assert section["stderr_logfile"] == "/dev/stderr", name
        assert section["stderr_logfile_maxbytes"] == "0", name
    listener = SECTIONS[supervisord_conf.LISTENER]
    assert listener["stderr_logfile"] == "/dev/stderr"
    assert listener["stderr_logfile_maxbytes"] == "0"


def test_every_process_is_told_its_own_name_for_its_log_prefix() -> None:
    for name, section in SECTIONS.items():
        assert f'DBAAS_PROGRAM="{name}"' in section["environment"], name


def test_every_program_restarts_on_any_exit_but_goes_fatal_after_quick_start_failures() -> None:
    for name in supervisord_conf.PROGRAMS:
        section = SECTIONS[name]
        assert section["autorestart"] == "true", name
        assert int(section["startsecs"]) >= 1, name
        assert 1 <= int(section["startretries"]) <= 5, name
        assert section["stopsignal"] == "TERM", name


def test_every_program_is_reported_running_soon_enough_for_readyz_within_5_seconds() -> None:
    # /readyz needs every program RUNNING, which supervisord reports only after startsecs;
    # the target is 5 s from spawn, and the programs take about a second to start.
    for name in supervisord_conf.PROGRAMS:
        assert int(SECTIONS[name]["startsecs"]) <= 2, name


def test_the_control_socket_is_owner_only_under_dbaas_home_and_no_inet_server_exists() -> None:
    socket_file = CONF["unix_http_server"]["file"]
    assert socket_file == "%(ENV_DBAAS_HOME)s/supervisor.sock"
    assert not socket_file.startswith("/tmp")
    assert CONF["unix_http_server"]["chmod"] == "0700"
    assert not CONF.has_section("inet_http_server")
    assert CONF["supervisorctl"]["serverurl"] == f"unix://{socket_file}"
    assert CONF.has_section("rpcinterface:supervisor")


def test_supervisord_runs_in_the_foreground_logging_once_to_stdout() -> None:
    main = CONF["supervisord"]
    assert main["nodaemon"] == "true"
    assert main["logfile"] == "/dev/null"  # nodaemon copies the log to stdout already
    assert main["logfile_maxbytes"] == "0"
    assert main["pidfile"].startswith("%(ENV_DBAAS_HOME)s/")


def test_sigterm_reaches_only_the_api_master_so_hypercorn_workers_drain() -> None:
    api = SECTIONS["api"]
    assert api["stopasgroup"] == "false"
    assert api["killasgroup"] == "true"  # the final SIGKILL must not leave workers behind


def test_the_fatal_listener_hears_only_fatal_events_and_never_logs_its_protocol_stream() -> None:
    listener = SECTIONS[supervisord_conf.LISTENER]
    assert listener["events"] == fatal_listener.FATAL
    assert listener["command"] == "python -m services.supervision.fatal_listener"
    assert listener["stdout_logfile"] == "NONE"
    programs = supervisord_conf.PROGRAMS
    assert int(listener["priority"]) < min(int(SECTIONS[p]["priority"]) for p in programs)


def test_the_stop_budget_in_the_header_matches_the_stopwaitsecs() -> None:
    text = supervisord_conf.CONFIG_PATH.read_text(encoding="utf-8")
    worst = re.search(r"= (\d+) s worst case", text)
    total = re.search(r"= (\d+) s\.", text)
    assert worst and total
    waits = sum(int(s.get("stopwaitsecs", "10")) for s in SECTIONS.values())
    assert int(worst.group(1)) == waits
    assert int(total.group(1)) == supervisord_conf.stop_budget_seconds(CONF)
    assert supervisord_conf.stop_order(CONF) == [
        "api",
        "worker",
        "drift",
        "status-sync",
        supervisord_conf.LISTENER,
    ]


# ---- the listener's protocol ------------------------------------------------------------


def _event_bytes(name: str, payload: str, serial: int = 1) -> bytes:
    body = payload.encode()
    header = (
        f"ver:3.0 server:supervisor serial:{serial} pool:fatal-listener poolserial:{serial} "
        f"eventname:{name} len:{len(body)}\n"
    )
    return header.encode() + body


@dataclass
class Kills:
    calls: list[tuple[int, int]]

    def __call__(self, pid: int, sig: int) -> None:
        self.calls.append((pid, sig))


def test_the_listener_acknowledges_every_event_and_signals_supervisord_only_on_fatal(
    tmp_path: Path,
) -> None:
    stdin = io.BytesIO(
        _event_bytes("PROCESS_STATE_RUNNING", "processname:api groupname:api from_state:STARTING")
        + _event_bytes(
            "PROCESS_STATE_FATAL", "processname:worker groupname:worker from_state:BACKOFF", 2
        )
    )
    stdout = io.BytesIO()
    kills = Kills([])
    fatal_listener.listen(stdin, stdout, home=tmp_path, supervisord_pid=4242, kill=kills)
    assert stdout.getvalue() == b"READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n"
    assert kills.calls == [(4242, signal.SIGTERM)]
    assert marker.read(tmp_path) == "program worker went FATAL (from BACKOFF)"


def test_the_first_fatal_program_stays_recorded_as_the_cause(tmp_path: Path) -> None:
    kills = Kills([])
    for program in ("drift", "api"):
        event = protocol.parse_event(
            _event_bytes(fatal_listener.FATAL, "x").split(b"\n")[0],
            f"processname:{program} groupname:{program} from_state:BACKOFF".encode(),
        )
        fatal_listener.handle(event, home=tmp_path, supervisord_pid=7, kill=kills)
    assert marker.read(tmp_path) == "program drift went FATAL (from BACKOFF)"
    assert len(kills.calls) == 2


def test_a_header_without_a_length_is_a_protocol_error() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.wait(io.BytesIO(b"ver:3.0 eventname:PROCESS_STATE_FATAL\n"), io.BytesIO())


# ---- the real supervisord ---------------------------------------------------------------


@dataclass
class Supervised:
    home: Path
    config: Path
    process: subprocess.Popen[bytes]
    stop_log: Path
    output: Path

    @property
    def socket(self) -> Path:
        return self.home / "supervisor.sock"

    def env(self) -> dict[str, str]:
        return os.environ | {"DBAAS_HOME": str(self.home)}

    def log_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def _poll(condition: Callable[[], bool], *, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {deadline} s: {what}")


def _states_or_empty(socket_path: Path) -> dict[str, str]:
    try:
        return states.program_states(socket_path, timeout=1.0)
    except states.SupervisorUnavailable:
        return {}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer
    path = Path(tempfile.mkdtemp(prefix="dbaas-sv-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _start(base: Path, programs: dict[str, dict[str, str]]) -> Supervised:
    """supervisord.conf with its [program:*] sections replaced by `programs`, launched."""
    parser = supervisord_conf.load()
    for section in [s for s in parser.sections() if s.startswith("program:")]:
        parser.remove_section(section)
    for name, options in programs.items():
        parser.add_section(f"program:{name}")
        for key, value in options.items():
            parser.set(f"program:{name}", key, value)
    home, config, output = base / "home", base / "supervisord.conf", base / "output.log"
    with config.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.supervision.supervise", "-c", str(config)],
            cwd=supervisord_conf.REPO_ROOT,
            env=os.environ | {"DBAAS_HOME": str(home)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Supervised(home, config, process, base / "stops.log", output)


def _stand_ins(base: Path) -> dict[str, dict[str, str]]:
    """The real [program:*] sections, each running the stand-in instead of `dbaas ...`."""
    script = base / "stand_in.py"
    script.write_text(STAND_IN, encoding="utf-8")
    programs = {}
    for name in supervisord_conf.PROGRAMS:
        options = dict(CONF[f"program:{name}"])
        options["command"] = f"{sys.executable} {script} {base / 'stops.log'}"
        programs[name] = options
    return programs


def _stop(supervised: Supervised) -> None:
    if supervised.process.poll() is None:
        supervised.process.send_signal(signal.SIGTERM)
        try:
            supervised.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            supervised.process.kill()
            supervised.process.wait()


@pytest.fixture
def running(short_dir: Path) -> Iterator[Supervised]:
    supervised = _start(short_dir, _stand_ins(short_dir))
    try:
        _poll(
            lambda: set(_states_or_empty(supervised.socket).values()) == {states.RUNNING},
            deadline=30,
            what="every program RUNNING",
        )
        yield supervised
    finally:
        _stop(supervised)


def test_a_program_that_cannot_start_makes_supervisord_exit_non_zero(short_dir: Path) -> None:
    doomed = {
        "command": f'{sys.executable} -c "raise SystemExit(3)"',
        "environment": 'DBAAS_PROGRAM="doomed"',
        "autorestart": "true",
        "startsecs": "1",
        "startretries": "1",
    }
    started = time.monotonic()
    supervised = _start(short_dir, {"doomed": doomed})
    try:
        returncode = supervised.process.wait(timeout=60)
    finally:
        _stop(supervised)
    assert returncode == supervise.EXIT_PROGRAM_FATAL, supervised.log_text()
    assert time.monotonic() - started < 30
    assert "gave up: doomed entered FATAL state" in supervised.log_text()
    assert "supervise: exiting 1: program doomed went FATAL" in supervised.log_text()


def test_the_launcher_refuses_a_malformed_setting_before_starting_supervisord(
    short_dir: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.supervision.supervise", "-c", "supervisord.conf"],
        cwd=supervisord_conf.REPO_ROOT,
        env=os.environ | {"DBAAS_HOME": str(short_dir), "DBAAS_API_WORKERS": "many"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == supervise.EXIT_BAD_SETTINGS
    assert "DBAAS_API_WORKERS='many' is not a valid int" in result.stderr
    assert not (short_dir / "supervisor.sock").exists()


def test_program_states_reports_every_program_and_the_listener_as_running(
    running: Supervised,
) -> None:
    assert states.program_states(running.socket) == {
        "api": states.RUNNING,
        "worker": states.RUNNING,
        "status-sync": states.RUNNING,
        "drift": states.RUNNING,
        "fatal-listener": states.RUNNING,
    }
    assert stat.S_IMODE(running.socket.stat().st_mode) == 0o700


def test_supervisorctl_with_the_repository_config_needs_only_dbaas_home(
    running: Supervised,
) -> None:
    result = subprocess.run(
        [SUPERVISORCTL, "-c", "supervisord.conf", "status"],
        cwd=supervisord_conf.REPO_ROOT,
        env=running.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert listed == {name: "RUNNING" for name in (*supervisord_conf.PROGRAMS, "fatal-listener")}


def test_a_program_killed_with_sigkill_is_started_again(running: Supervised) -> None:
    def worker_pid() -> int:
        result = subprocess.run(
            [SUPERVISORCTL, "-c", "supervisord.conf", "pid", "worker"],
            cwd=supervisord_conf.REPO_ROOT,
            env=running.env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return int(result.stdout.strip() or 0)

    first = worker_pid()
    os.kill(first, signal.SIGKILL)
    _poll(
        lambda: (
            worker_pid() not in (0, first)
            and _states_or_empty(running.socket).get("worker") == states.RUNNING
        ),
        deadline=30,
        what="worker restarted and RUNNING",
    )
    assert running.process.poll() is None


def test_sigterm_stops_the_programs_in_priority_order_within_the_budget_and_exits_zero(
    running: Supervised,
) -> None:
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    returncode = running.process.wait(timeout=supervisord_conf.stop_budget_seconds())
    assert returncode == 0, running.log_text()
    assert time.monotonic() - started < supervisord_conf.stop_budget_seconds()
    stopped = running.stop_log.read_text(encoding="utf-8").split()
    assert stopped == [p for p in supervisord_conf.stop_order() if p != supervisord_conf.LISTENER]
    assert marker.read(running.home) is None


def test_program_states_fails_fast_when_no_supervisord_listens(short_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(states.SupervisorUnavailable):
        states.program_states(short_dir / "supervisor.sock", timeout=1.0)
    assert time.monotonic() - started < 2

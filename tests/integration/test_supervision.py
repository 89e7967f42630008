"""supervisord.conf's contract, and the real supervisord running it.

The first part reads supervisord.conf (interpolation off) and checks what operators and
Kubernetes rely on. The second gives the FATAL handler (services/supervision/fatal.py) the
supervisord objects the repository's file makes, in this process, and the events supervisord
sends. The third runs the real supervisord through our launcher with the real
[unix_http_server], [supervisord], [rpcinterface:*] and [supervisorctl] sections and the real
[program:*] sections, only their `command` swapped for a small stand-in program: the dbaas
programs are tested elsewhere, here the supervision around them is.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from supervisor import events, loggers
from supervisor.options import ServerOptions
from supervisor.states import ProcessStates, SupervisorStates
from supervisor.supervisord import Supervisor
from supervisor.xmlrpc import SupervisorTransport

from services.supervision import fatal, marker, states, supervise
from tests.container import supervisord_conf

CONF = supervisord_conf.load()
SECTIONS = supervisord_conf.process_sections(CONF)
SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
WORKER = supervisord_conf.namespecs("worker")[0]  # worker:worker-0, the one process by default

# A stand-in for a dbaas program: records its name (from DBAAS_PROGRAM, as supervisord
# passes it) when SIGTERM arrives, then exits like a warm shutdown. It exits at once, as a
# program that cannot start does, while a file <log>.<name>.doomed exists.
STAND_IN = """\
import os, signal, sys, time
log = sys.argv[1]
if os.path.exists(log + "." + os.environ["DBAAS_PROGRAM"] + ".doomed"):
    sys.exit(3)
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


def test_the_config_defines_the_four_programs_by_contract_names_and_no_other_process() -> None:
    programs = {s.partition(":")[2] for s in CONF.sections() if s.startswith("program:")}
    assert programs == set(supervisord_conf.PROGRAMS)
    others = [s for s in CONF.sections() if s.startswith(("eventlistener:", "fcgi-program:"))]
    assert others == []
    for program in supervisord_conf.PROGRAMS:
        assert CONF[f"program:{program}"]["command"] == f"dbaas {program}"


def test_every_process_logs_unrotated_to_the_container_streams() -> None:
    for name in supervisord_conf.PROGRAMS:
        section = SECTIONS[name]
        assert section["stdout_logfile"] == "/dev/stdout", name
        assert section["stdout_logfile_maxbytes"] == "0", name
        assert section["stderr_logfile"] == "/dev/stderr", name
        assert section["stderr_logfile_maxbytes"] == "0", name


def test_every_process_is_told_its_own_name_for_its_log_prefix() -> None:
    for name, section in SECTIONS.items():
        process_name = section.get("process_name", name)  # worker-%(process_num)d
        assert f'DBAAS_PROGRAM="{process_name}"' in section["environment"], name


def test_the_worker_count_is_a_setting_and_each_process_is_named() -> None:
    worker = SECTIONS["worker"]
    assert worker["numprocs"] == "%(ENV_DBAAS_WORKER_PROCESSES)s"
    assert supervisord_conf.process_names("worker", 2) == ["worker-0", "worker-1"]
    assert all("numprocs" not in SECTIONS[name] for name in ("api", "status-sync", "drift"))


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


def test_the_fatal_handler_is_loaded_into_supervisord_with_the_marker_under_dbaas_home() -> None:
    section = CONF[supervisord_conf.FATAL_RPCINTERFACE]
    assert dict(section) == {
        "supervisor.rpcinterface_factory": "services.supervision.fatal:make_rpcinterface",
        "home": "%(ENV_DBAAS_HOME)s",
        # the heartbeat watchdog's programs: every program but the api, which does not beat
        "programs": "worker status-sync drift",
    }
    # supervisord calls rpcinterface factories only while making its control servers
    assert CONF.has_section("unix_http_server")


def test_the_stop_budget_in_the_header_matches_the_stopwaitsecs() -> None:
    text = supervisord_conf.CONFIG_PATH.read_text(encoding="utf-8")
    worst = re.search(r"= (\d+) s worst case", text)
    total = re.search(r"= (\d+) s\.", text)
    assert worst and total
    waits = sum(int(s.get("stopwaitsecs", "10")) for s in SECTIONS.values())
    assert int(worst.group(1)) == waits
    assert int(total.group(1)) == supervisord_conf.stop_budget_seconds(CONF)
    assert supervisord_conf.stop_order(CONF) == ["api", "worker", "drift", "status-sync"]


# ---- the FATAL handler, in this process -------------------------------------------------


@dataclass
class Loaded:
    """What supervisord has once it has built its RPC interfaces, before its main loop."""

    supervisor: Supervisor
    interfaces: dict[str, object]
    home: Path

    def log(self) -> str:
        stream = self.supervisor.options.logger.handlers[0].stream
        return str(stream.getvalue().decode("utf-8"))

    @property
    def mood(self) -> int:
        return int(self.supervisor.options.mood)

    def go_fatal(self, program: str, *, from_state: int = ProcessStates.BACKOFF) -> None:
        """Send the event supervisord sends when `program` gives up."""
        group, _, name = supervisord_conf.namespecs(program)[0].rpartition(":")
        process = self.supervisor.process_groups[group or name].processes[name]
        events.notify(events.ProcessStateFatalEvent(process, from_state))


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loaded]:
    """The repository's supervisord.conf realized as supervisord does, its process groups
    added and its rpcinterface factories called as supervisord calls them when it makes its
    control server; no process is spawned and no socket opened, and supervisord's log is
    kept in memory (`Loaded.log`)."""
    monkeypatch.setenv("DBAAS_HOME", str(tmp_path))
    monkeypatch.setenv("DBAAS_WORKER_PROCESSES", "1")  # the launcher sets it
    events.clear()  # supervisord's subscriptions are module state; supervisord.run() clears
    try:
        yield _load(tmp_path)
    finally:
        events.clear()


def _load(home: Path) -> Loaded:
    options = ServerOptions()
    options.realize(["-c", str(supervisord_conf.CONFIG_PATH)])
    options.logger = loggers.getLogger(options.loglevel)
    loggers.handle_boundIO(options.logger, "%(levelname)s %(message)s\n")
    supervisor = Supervisor(options)
    for config in options.process_group_configs:
        supervisor.add_process_group(config)
    interfaces = {
        name: factory(supervisor, **extras)
        for name, factory, extras in options.rpcinterface_factories
    }
    return Loaded(supervisor, interfaces, home)


def _handlers() -> list[object]:
    return [c for kind, c in events.callbacks if kind is events.ProcessStateFatalEvent]


def test_the_repository_config_subscribes_one_fatal_handler_in_supervisords_process(
    loaded: Loaded,
) -> None:
    assert [type(h) for h in _handlers()] == [fatal.FatalHandler]
    assert loaded.mood == SupervisorStates.RUNNING
    # a second control server ([inet_http_server]) calls the factories again
    fatal.make_rpcinterface(loaded.supervisor, home=str(loaded.home))
    assert len(_handlers()) == 1


def test_a_fatal_program_is_recorded_logged_and_shuts_supervisord_down_like_sigterm(
    loaded: Loaded,
) -> None:
    events.notify(
        events.ProcessStateBackoffEvent(
            loaded.supervisor.process_groups["worker"].processes["worker-0"],
            ProcessStates.STARTING,
        )
    )
    assert loaded.mood == SupervisorStates.RUNNING
    assert marker.read(loaded.home) is None
    loaded.go_fatal("worker")
    # the value supervisord's handle_signal sets on SIGTERM; its main loop does the rest
    assert loaded.mood == SupervisorStates.SHUTDOWN
    assert marker.read(loaded.home) == "program worker-0 went FATAL (from BACKOFF)"
    assert "WARN dbaas: program worker-0 went FATAL (from BACKOFF): stopping every program" in (
        loaded.log()
    )
    interface = loaded.interfaces["dbaas"]
    assert isinstance(interface, fatal.RPCInterface)
    assert interface.getFatalReason() == "program worker-0 went FATAL (from BACKOFF)"


def test_the_first_fatal_program_stays_recorded_as_the_cause(loaded: Loaded) -> None:
    loaded.go_fatal("drift")
    loaded.go_fatal("api", from_state=ProcessStates.STARTING)
    assert marker.read(loaded.home) == "program drift went FATAL (from BACKOFF)"
    assert loaded.mood == SupervisorStates.SHUTDOWN


def test_a_marker_that_cannot_be_written_still_shuts_supervisord_down(
    loaded: Loaded,
) -> None:
    marker.path(loaded.home).mkdir()  # where the marker file would go
    loaded.go_fatal("api")  # must not raise into supervisord's main loop
    assert loaded.mood == SupervisorStates.SHUTDOWN
    assert "ERRO dbaas: cannot record program api went FATAL" in loaded.log()


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


def _start(
    base: Path,
    programs: dict[str, dict[str, str]],
    *,
    launcher: bool = True,
    worker_processes: int = 1,
) -> Supervised:
    """supervisord.conf with its [program:*] sections replaced by `programs`, launched (or,
    without the launcher, supervisord run as `supervisord -c`, in a DBAAS_HOME that exists)."""
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
    if launcher:
        command = [sys.executable, "-m", "services.supervision.supervise", "-c", str(config)]
    else:
        home.mkdir()
        command = [str(Path(sys.executable).parent / "supervisord"), "-c", str(config)]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=supervisord_conf.REPO_ROOT,
            # stand-in programs: no database (the launcher's migration step is off), and no
            # heartbeat (the watchdog would restart them after its startup grace)
            env=os.environ
            | {
                "DBAAS_HOME": str(home),
                "DBAAS_MIGRATE_ON_START": "false",
                "DBAAS_HEARTBEAT_TIMEOUT_SECONDS": "3600",
                # what the launcher exports; `supervisord -c` alone needs it in the environment
                "DBAAS_WORKER_PROCESSES": str(worker_processes),
            },
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
    supervised = _start(short_dir, {"doomed": doomed})
    try:
        returncode = supervised.process.wait(timeout=60)
    finally:
        _stop(supervised)
    assert returncode == supervise.EXIT_PROGRAM_FATAL, supervised.log_text()
    assert "gave up: doomed entered FATAL state" in supervised.log_text()
    assert "supervise: exiting 1: program doomed went FATAL" in supervised.log_text()


def test_a_program_gone_fatal_stops_the_others_in_order_without_a_signal_and_exits_one(
    running: Supervised,
) -> None:
    # the worker crashes and then cannot start again: 1 + startretries quick exits
    Path(f"{running.stop_log}.worker-0.doomed").touch()
    os.kill(_ctl_pid(running, WORKER), signal.SIGKILL)
    returncode = running.process.wait(timeout=60 + supervisord_conf.stop_budget_seconds())
    log = running.log_text()
    assert returncode == supervise.EXIT_PROGRAM_FATAL, log
    stopped = _stopped_programs(running)
    assert stopped == [p for p in supervisord_conf.stop_order() if p != "worker"], log
    assert "dbaas: program worker-0 went FATAL (from BACKOFF): stopping every program" in log
    assert "received SIGTERM" not in log  # shut down from inside, not by a signal
    assert "supervise: exiting 1: program worker-0 went FATAL (from BACKOFF)" in log
    assert marker.read(running.home) == "program worker-0 went FATAL (from BACKOFF)"


def test_the_fatal_handler_is_subscribed_again_after_a_supervisorctl_reload(
    running: Supervised,
) -> None:
    # a reload runs supervisord's startup again in the same process, events cleared first
    before = _ctl_pid(running, WORKER)
    subprocess.run(
        [SUPERVISORCTL, "-c", "supervisord.conf", "reload"],
        cwd=supervisord_conf.REPO_ROOT,
        env=running.env(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    _poll(
        lambda: (
            set(_states_or_empty(running.socket).values()) == {states.RUNNING}
            and _ctl_pid(running, WORKER) not in (0, before)
        ),
        deadline=30,
        what="every program RUNNING again after the reload",
    )
    Path(f"{running.stop_log}.worker-0.doomed").touch()
    os.kill(_ctl_pid(running, WORKER), signal.SIGKILL)
    returncode = running.process.wait(timeout=60 + supervisord_conf.stop_budget_seconds())
    assert returncode == supervise.EXIT_PROGRAM_FATAL, running.log_text()
    assert running.log_text().count("dbaas: program worker-0 went FATAL") == 1


def test_plain_supervisord_also_stops_on_fatal_but_exits_zero_leaving_the_marker(
    short_dir: Path,
) -> None:
    doomed = {
        "command": f'{sys.executable} -c "raise SystemExit(3)"',
        "environment": 'DBAAS_PROGRAM="doomed"',
        "startsecs": "1",
        "startretries": "1",
    }
    supervised = _start(short_dir, {"doomed": doomed}, launcher=False)
    try:
        returncode = supervised.process.wait(timeout=60)
    finally:
        _stop(supervised)
    assert returncode == 0, supervised.log_text()
    assert "dbaas: program doomed went FATAL" in supervised.log_text()
    assert marker.read(supervised.home) == "program doomed went FATAL (from BACKOFF)"


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


def test_the_launcher_prints_its_usage_without_docstrings_and_starts_nothing(
    short_dir: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.supervision.supervise", "-h"],
        cwd=supervisord_conf.REPO_ROOT,
        env=os.environ | {"DBAAS_HOME": str(short_dir), "PYTHONOPTIMIZE": "2"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m services.supervision.supervise -c")
    assert not (short_dir / "supervisor.sock").exists()


def test_program_states_reports_every_program_as_running(running: Supervised) -> None:
    assert states.program_states(running.socket) == {
        "api": states.RUNNING,
        WORKER: states.RUNNING,
        "status-sync": states.RUNNING,
        "drift": states.RUNNING,
    }
    assert stat.S_IMODE(running.socket.stat().st_mode) == 0o700


def test_the_launcher_never_loads_openssl(running: Supervised) -> None:
    # supervisord speaks no TLS; OpenSSL would stay mapped in PID 1 for the pod's lifetime
    maps = Path(f"/proc/{running.process.pid}/maps").read_text(encoding="utf-8")
    assert "/libssl" not in maps and "/_ssl" not in maps
    assert states.program_states(running.socket)["api"] == states.RUNNING  # it still serves


def test_the_control_socket_tells_that_no_program_went_fatal(running: Supervised) -> None:
    transport = SupervisorTransport(None, None, serverurl=f"unix://{running.socket}")
    with xmlrpc.client.ServerProxy("http://localhost", transport=transport) as proxy:
        assert proxy.dbaas.getFatalReason() == ""


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
    specs = [
        spec for name in supervisord_conf.PROGRAMS for spec in supervisord_conf.namespecs(name)
    ]
    assert listed == dict.fromkeys(specs, "RUNNING")


def _ctl_pid(supervised: Supervised, program: str) -> int:
    result = subprocess.run(
        [SUPERVISORCTL, "-c", "supervisord.conf", "pid", program],
        cwd=supervisord_conf.REPO_ROOT,
        env=supervised.env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return int(result.stdout.strip() or 0)


def test_a_program_killed_with_sigkill_is_started_again(running: Supervised) -> None:
    def worker_pid() -> int:
        return _ctl_pid(running, WORKER)

    first = worker_pid()
    os.kill(first, signal.SIGKILL)
    _poll(
        lambda: (
            worker_pid() not in (0, first)
            and _states_or_empty(running.socket).get(WORKER) == states.RUNNING
        ),
        deadline=30,
        what="worker restarted and RUNNING",
    )
    assert running.process.poll() is None


def test_sigterm_stops_the_programs_in_priority_order_within_the_budget_and_exits_zero(
    running: Supervised,
) -> None:
    running.process.send_signal(signal.SIGTERM)
    returncode = running.process.wait(timeout=supervisord_conf.stop_budget_seconds())
    assert returncode == 0, running.log_text()
    assert _stopped_programs(running) == supervisord_conf.stop_order()
    assert marker.read(running.home) is None


def _stopped_programs(supervised: Supervised) -> list[str]:
    """The programs in the order their processes recorded SIGTERM, each program once."""
    stopped = supervised.stop_log.read_text(encoding="utf-8").split()
    return list(dict.fromkeys(supervisord_conf.program_of(name) for name in stopped))


def test_several_worker_processes_run_each_named_and_stop_together_on_sigterm(
    short_dir: Path,
) -> None:
    supervised = _start(short_dir, _stand_ins(short_dir), worker_processes=3)
    try:
        _poll(
            lambda: list(_states_or_empty(supervised.socket).values()).count(states.RUNNING) == 6,
            deadline=30,
            what="api, three worker processes, status-sync and drift RUNNING",
        )
        listed = states.program_states(supervised.socket)
        assert set(supervisord_conf.namespecs("worker", 3)) <= set(listed)
        killed = _ctl_pid(supervised, "worker:worker-1")
        os.kill(killed, signal.SIGKILL)  # only that process starts again
        _poll(
            lambda: _ctl_pid(supervised, "worker:worker-1") not in (0, killed),
            deadline=30,
            what="worker-1 started again",
        )
        supervised.process.send_signal(signal.SIGTERM)
        returncode = supervised.process.wait(timeout=supervisord_conf.stop_budget_seconds())
    finally:
        _stop(supervised)
    assert returncode == 0, supervised.log_text()
    stopped = supervised.stop_log.read_text(encoding="utf-8").split()
    assert sorted(n for n in stopped if n.startswith("worker-")) == [
        "worker-0",
        "worker-1",
        "worker-2",
    ]
    assert _stopped_programs(supervised) == supervisord_conf.stop_order()


def test_program_states_fails_fast_when_no_supervisord_listens(short_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(states.SupervisorUnavailable):
        states.program_states(short_dir / "supervisor.sock", timeout=1.0)
    assert time.monotonic() - started < 2

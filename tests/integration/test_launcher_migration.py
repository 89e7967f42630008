"""The launcher applies pending migrations before any program starts (a plain `docker run`
on an empty database works), several at once apply each migration once, a failing step
gives up after DBAAS_MIGRATE_WAIT_SECONDS and lets the programs start, SIGTERM during the
step stops the launcher without starting anything, and DBAAS_MIGRATE_ON_START=false skips
it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.settings import Settings
from services.store import migrating
from services.supervision import migration
from tests.container import supervisord_conf


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="dbaas-mig-") as path:
        yield Path(path)


def _pending(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return migrating.pending(conn)


def _applied_rows(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]


# A supervisord.conf with one program that needs the schema: it exits 3 at once (and goes
# FATAL) if the `projects` table is missing when it starts.
PROGRAM = """
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
[program:needs-schema]
command={python} {home}/needs_schema.py
startsecs=1
startretries=0
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
"""


NEEDS_SCHEMA = """
import os, time
import psycopg
psycopg.connect(os.environ["DBAAS_DATABASE_URL"]).execute("SELECT 1 FROM projects")
print("schema found", flush=True)
time.sleep(600)
"""


def _launch(home: Path, database_url: str, **env: str) -> tuple[subprocess.Popen[str], Path]:
    (home / "needs_schema.py").write_text(NEEDS_SCHEMA)
    config = home / "supervisord.conf"
    config.write_text(PROGRAM.format(home=home, python=sys.executable))
    output = home / "output.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.supervision.supervise", "-c", str(config)],
            cwd=supervisord_conf.REPO_ROOT,
            env=os.environ | {"DBAAS_HOME": str(home), "DBAAS_DATABASE_URL": database_url} | env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return process, output


def _wait_for_text(output: Path, text: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        content = output.read_text()
        if text in content or process.poll() is not None:
            break
        time.sleep(0.1)
    content = output.read_text()
    assert text in content, content
    return content


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def test_the_launcher_migrates_an_empty_database_before_any_program_starts(
    empty_database_url: str, short_dir: Path
) -> None:
    process, output = _launch(short_dir, empty_database_url)
    try:
        text = _wait_for_text(output, "schema found", process)
    finally:
        code = _stop(process)
    assert code == 0, output.read_text()
    applied = f"applied {len(migrating.names())} migration(s)"
    assert applied in text
    assert text.index(applied) < text.index("spawned: 'needs-schema'")
    assert _pending(empty_database_url) == []


def test_launchers_starting_at_once_apply_each_migration_once(empty_database_url: str) -> None:
    children = [
        subprocess.Popen(
            migration.COMMAND,
            env=os.environ | {"DBAAS_DATABASE_URL": empty_database_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], outputs
    # one applied everything, the others waited on the advisory lock and found nothing to do
    assert sorted(line.splitlines()[-1] for line in outputs).count("applied 0 migration(s)") == 3
    assert _applied_rows(empty_database_url) == list(migrating.names())


def test_a_failing_migration_gives_up_after_the_wait_and_lets_the_programs_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DBAAS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # each look at the clock: one second later
        return now[0]

    config = Settings(database_url="unused", migrate_wait_seconds=3.0)
    assert migration.migrate_before_start(config, clock=clock) is migration.Outcome.GAVE_UP


def test_migration_on_start_can_be_turned_off(empty_database_url: str, short_dir: Path) -> None:
    config = Settings.from_env({"DBAAS_MIGRATE_ON_START": "false"})
    assert config.migrate_on_start is False
    assert migration.migrate_before_start(config) is migration.Outcome.DISABLED
    # the launcher then starts the programs on the empty schema: the one here goes FATAL
    process, output = _launch(short_dir, empty_database_url, DBAAS_MIGRATE_ON_START="false")
    code = process.wait(timeout=60)
    assert code == 1, output.read_text()
    assert "applied" not in output.read_text()
    assert len(_pending(empty_database_url)) == len(migrating.names())


def test_sigterm_during_the_migration_stops_the_launcher_without_starting_programs(
    short_dir: Path,
) -> None:
    process, output = _launch(
        short_dir,
        "postgresql://nobody@127.0.0.1:1/none",
        DBAAS_MIGRATE_WAIT_SECONDS="600",
    )
    _wait_for_text(output, "migration failed", process)
    code = _stop(process)
    assert code == 0, output.read_text()
    assert "stop requested during the migration: not starting the programs" in output.read_text()
    assert "supervisord started" not in output.read_text()
    assert not (short_dir / "supervisor.sock").exists()


def test_a_malformed_migration_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="DBAAS_MIGRATE_ON_START='maybe'"):
        Settings.from_env({"DBAAS_MIGRATE_ON_START": "maybe"})

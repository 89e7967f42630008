"""DBAAS_WORKER_PROCESSES: the setting, and how the heartbeats of several processes read."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from services.commands import health
from services.settings import MAX_WORKER_PROCESSES, Settings, SettingsError
from services.supervision import heartbeats


def test_one_worker_process_unless_told_otherwise() -> None:
    assert Settings.from_env({}).worker_processes == 1
    assert Settings.from_env({"DBAAS_WORKER_PROCESSES": "4"}).worker_processes == 4


@pytest.mark.parametrize("raw", ["0", "-1", str(MAX_WORKER_PROCESSES + 1)])
def test_a_count_outside_the_range_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"DBAAS_WORKER_PROCESSES={raw} is not between 1"):
        Settings.from_env({"DBAAS_WORKER_PROCESSES": raw})


def test_one_fixed_worker_name_for_several_processes_is_refused() -> None:
    env = {"DBAAS_WORKER_PROCESSES": "2", "DBAAS_WORKER_NAME": "w"}
    with pytest.raises(SettingsError, match="DBAAS_WORKER_NAME names one worker process"):
        Settings.from_env(env)
    assert Settings.from_env(env | {"DBAAS_WORKER_PROCESSES": "1"}).worker_name == "w"


def test_the_beats_of_a_program_are_its_own_file_or_its_numbered_processes(
    tmp_path: Path,
) -> None:
    now = time.time()
    for name in ("worker-0", "worker-1", "worker-x", "status-sync"):
        heartbeats.write(tmp_path, heartbeats.Beat(name, 1, now))
    assert sorted(heartbeats.of_program(tmp_path, "worker")) == ["worker-0", "worker-1"]
    assert sorted(heartbeats.of_program(tmp_path, "status-sync")) == ["status-sync"]
    heartbeats.clear(tmp_path)
    assert heartbeats.read_all(tmp_path) == {}


def test_dbaas_health_worker_needs_every_worker_process_beating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DBAAS_HOME", str(tmp_path))
    args = argparse.Namespace(program="worker")
    assert health.run(args) == 1  # nothing beat yet
    now = time.time()
    heartbeats.write(tmp_path, heartbeats.Beat("worker-0", 1, now))
    heartbeats.write(tmp_path, heartbeats.Beat("worker-1", 2, now))
    assert health.run(args) == 0
    assert "worker-1: beating (pid 2" in capsys.readouterr().out
    heartbeats.write(tmp_path, heartbeats.Beat("worker-1", 2, now - 60))
    assert health.run(args) == 1
    assert "worker-1: last heartbeat 60s ago" in capsys.readouterr().err

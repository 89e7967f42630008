"""`dbaas db restore` against a real control plane with a BackupStorage (KubeStash
simulated): a backup restored into a new database with and without --wait, the source's
engine, version and storage taken by default, a restore KubeStash fails, and the refusals
(the API's, as one line, and a command line that names no source or two)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.control_plane import Plane, control_plane, wait_for
from tests.e2e.test_cli_client import NAMESPACE, client_env, dbaas, ok, refused
from tests.fixtures_sim import SimCluster


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path, backups=True) as running:
        yield running


def test_a_backup_is_restored_into_a_new_database_through_the_cli(
    plane: Plane, sim: SimCluster, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)
    ok(env, "db", "create", "ledger", "--engine", "postgres", "--version", "16.13",
       "--storage", "2Gi", "--wait")  # fmt: skip
    backup = json.loads(ok(env, "backup", "create", "ledger", "--wait", "-o", "json"))

    restored = dbaas(env, "db", "restore", "copy", "--from-backup", backup["id"], "--wait",
                     "-o", "json")  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert "copy: restore" in restored.stderr and "restore succeeded" in restored.stderr
    assert "copy ready" in restored.stderr
    copy = json.loads(restored.stdout)
    assert (copy["name"], copy["state"]) == ("copy", "ready")
    assert (copy["engine"], copy["version"], copy["storage"]) == ("postgres", "16.13", "2Gi")
    operations = json.loads(ok(env, "ops", "list", "--db", "copy", "-o", "json"))["items"]
    assert [(op["type"], op["state"]) for op in operations] == [("restore", "succeeded")]

    # Without --wait: the accepted restore at once; a flag overrides the source's value.
    queued = ok(env, "db", "restore", "bigger", "--from-backup", backup["id"], "--storage", "4Gi")
    assert queued.startswith("bigger: restore pending (operation ")
    assert json.loads(ok(env, "db", "get", "bigger", "-o", "json"))["storage"] == "4Gi"

    # A restore KubeStash fails: its reason in one line, exit 1.
    reason = "restic: wrong password or no key found"
    sim.set_faults(
        kubestash={
            "restores": [{"mode": "fail", "reason": reason, "database": f"{NAMESPACE}/broken"}]
        }
    )
    lines = refused(env, "db", "restore", "broken", "--from-backup", backup["id"], "--wait")
    assert lines[-1].startswith("dbaas: error: operation restore ") and reason in lines[-1]


def test_restores_that_cannot_be_done_are_one_clear_line_and_a_non_zero_exit(
    plane: Plane, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)
    ok(env, "db", "create", "ledger", "--engine", "postgres", "--version", "16.13", "--wait")
    backup = json.loads(ok(env, "backup", "create", "ledger", "--wait", "-o", "json"))

    lines = refused(env, "db", "restore", "old", "--from-backup", backup["id"],
                    "--version", "16.4")  # fmt: skip
    assert len(lines) == 1 and lines[0].endswith("(422 restore-not-possible)")
    assert "16.13" in lines[0]
    lines = refused(env, "db", "restore", "then", "--from-db", "ledger",
                    "--at", "2026-01-01T00:00:00Z")  # fmt: skip
    assert len(lines) == 1 and lines[0].endswith("(422 restore-not-possible)")
    missing = str(uuid.uuid4())
    lines = refused(env, "db", "restore", "x", "--from-backup", missing)
    assert lines == [f"dbaas: error: backup {missing} not found (404 not-found)"]
    lines = refused(env, "db", "restore", "x", "--from-db", "nope", "--at", "2026-01-01T00:00Z")
    assert lines == ["dbaas: error: no database named 'nope' in this project"]
    lines = refused(env, "db", "restore", "Bad_Name", "--from-backup", backup["id"])
    assert lines[0].endswith("(422 validation-failed)") and lines[1].startswith("  name: ")

    for argv, says in (
        ([], "say what to restore from"),
        (["--from-backup", backup["id"], "--from-db", "ledger"], "say what to restore from"),
        (["--from-db", "ledger"], "--from-db needs --at"),
        (["--from-backup", backup["id"], "--at", "2026-01-01T00:00:00Z"], "--at goes with"),
    ):
        lines = refused(env, "db", "restore", "x", *argv, code=2)
        assert says in lines[-1], lines
    names = [db["name"] for db in json.loads(ok(env, "db", "list", "-o", "json"))["items"]]
    assert names == ["ledger"]  # nothing half-applied


def test_a_database_with_pitr_is_restored_to_a_point_in_its_window(
    plane: Plane, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)
    ok(env, "db", "create", "ledger", "--engine", "postgres", "--version", "16.13",
       "--backup-schedule", "@daily", "--pitr", "--wait")  # fmt: skip

    def window() -> dict[str, str] | None:
        shown: dict[str, Any] = json.loads(ok(env, "db", "get", "ledger", "-o", "json"))
        found: dict[str, str] | None = shown["restorable_window"]
        return found

    span = wait_for(window, timeout=60, what="ledger's restorable window")
    # The archive goes on, so the window's end moves on; its start stays.
    assert f"restorable:      {span['earliest']} to " in ok(env, "db", "get", "ledger")
    lines = refused(env, "db", "restore", "early", "--from-db", "ledger",
                    "--at", "2001-01-01T00:00:00Z")  # fmt: skip
    assert lines[0].endswith("(422 restore-not-possible)") and span["earliest"] in lines[0]

    restored = dbaas(env, "db", "restore", "as-of", "--from-db", "ledger", "--at",
                     span["latest"], "--wait", "-o", "json")  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert "restore succeeded" in restored.stderr
    copy = json.loads(restored.stdout)
    assert (copy["name"], copy["state"], copy["version"]) == ("as-of", "ready", "16.13")
    operation = json.loads(ok(env, "ops", "list", "--db", "as-of", "-o", "json"))["items"][0]
    assert operation["params"]["restore"]["point_in_time"] == span["latest"]

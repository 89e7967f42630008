"""`dbaas db create --backup-*` and `dbaas db backup-policy` against a real control plane
with a BackupStorage: a policy given at creation, shown, changed flag by flag (the rest
kept), turned off; and the policies the API refuses, as one line plus field errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.control_plane import Plane, control_plane
from tests.e2e.test_cli_client import client_env, dbaas, ok, refused
from tests.fixtures_sim import SimCluster


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path, backups=True) as running:
        yield running


def test_a_backup_policy_is_set_at_creation_shown_changed_and_turned_off(
    plane: Plane, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)
    created = dbaas(
        env, "db", "create", "ledger", "--engine", "postgres", "--version", "16.13",
        "--backup-schedule", "0 2 * * *", "--backup-keep-last", "7", "--backup-max-age", "30d",
        "--pitr", "--wait", "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "backup_policy succeeded" in created.stderr
    ledger = json.loads(created.stdout)
    assert ledger["backup"] == {
        "schedule": "0 2 * * *",
        "retention": {"keep_last": 7, "max_age": "30d"},
        "pitr": True,
    }
    assert ok(env, "db", "backup-policy", "ledger") == (
        "ledger: 0 2 * * * (keep last 7, max age 30d, point-in-time recovery)\n"
    )
    assert "backups:         0 2 * * * (keep last 7" in ok(env, "db", "get", "ledger")

    # One flag changes one thing; the rest of the policy is kept.
    changed = dbaas(env, "db", "backup-policy", "ledger", "--keep-last", "3", "--no-pitr",
                    "--wait", "-o", "json")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["backup"] == {
        "schedule": "0 2 * * *",
        "retention": {"keep_last": 3, "max_age": "30d"},
        "pitr": False,
    }
    shown = yaml.safe_load(ok(env, "db", "backup-policy", ledger["id"], "-o", "yaml"))
    assert shown["retention"]["keep_last"] == 3 and shown["pitr"] is False

    queued = ok(env, "db", "backup-policy", "ledger", "--off")
    assert queued.splitlines()[-1] == "ledger: none"
    assert json.loads(ok(env, "db", "get", "ledger", "-o", "json"))["backup"] is None
    assert ok(env, "db", "backup-policy", "ledger", "-o", "json") == "null\n"


def test_bad_backup_policies_are_one_clear_line_and_a_non_zero_exit(
    plane: Plane, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)
    lines = refused(
        env, "db", "create", "cache", "--engine", "redis", "--backup-schedule", "61 * * * *",
        "--backup-keep-last", "0", "--backup-max-age", "forever", "--pitr",
    )  # fmt: skip
    assert lines[0].startswith("dbaas: error: ") and lines[0].endswith("(422 validation-failed)")
    fields = {line.split(":")[0].strip() for line in lines[1:]}
    assert fields == {
        "backup.schedule",
        "backup.retention.keep_last",
        "backup.retention.max_age",
        "backup.pitr",
    }
    assert json.loads(ok(env, "db", "list", "-o", "json")) == {"items": []}

    ok(env, "db", "create", "shop", "--engine", "postgres", "--storage", "1Gi")
    lines = refused(env, "db", "backup-policy", "shop", "--keep-last", "3")
    assert lines[0].endswith("(422 validation-failed)")
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["backup.schedule"]
    lines = refused(env, "db", "backup-policy", "shop", "--off", "--keep-last", "3", code=2)
    assert "--off turns scheduled backups off" in lines[-1]
    lines = refused(env, "db", "backup-policy", "shop", "--keep-last", "many", code=2)
    assert "'many' is not a valid integer" in lines[-1]
    lines = refused(env, "db", "backup-policy", "nope", "--schedule", "@daily")
    assert lines == ["dbaas: error: no database named 'nope' in this project"]
    assert ok(env, "db", "backup-policy", "shop") == "shop: none\n"

from __future__ import annotations

import os
import subprocess
import sys

from services.clients import postgres
from services.store import keys


def dbaas(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DBAAS_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_created_key_is_printed_alone_and_authenticates(database_url: str) -> None:
    result = dbaas(database_url, "keys", "create", "--project", "team-a", "--role", "operator")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("dbaas_") and "\n" not in token
    with postgres.connect(database_url) as conn:
        principal = keys.authenticate(conn, token)
        stored = conn.execute("SELECT secret_sha256::text AS digest FROM api_keys").fetchone()
    assert principal is not None
    assert (principal.project_id, principal.role) == ("team-a", "operator")
    assert stored is not None and token not in stored["digest"]


def test_revoked_key_no_longer_authenticates(database_url: str) -> None:
    token = dbaas(database_url, "keys", "create", "--project", "p", "--role", "viewer").stdout
    token = token.strip()
    prefix = token.split("_", 2)[1]
    listing = dbaas(database_url, "keys", "list", "--project", "p")
    assert prefix in listing.stdout and "active" in listing.stdout
    assert token not in listing.stdout
    revoked = dbaas(database_url, "keys", "revoke", prefix)
    assert revoked.returncode == 0, revoked.stderr
    with postgres.connect(database_url) as conn:
        assert keys.authenticate(conn, token) is None
    again = dbaas(database_url, "keys", "revoke", prefix)
    assert again.returncode == 1 and "no active key" in again.stderr


def test_bad_role_and_bad_project_exit_non_zero_with_a_message(database_url: str) -> None:
    bad_role = dbaas(database_url, "keys", "create", "--project", "p", "--role", "root")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    bad_project = dbaas(database_url, "keys", "create", "--project", "Bad_Name", "--role", "admin")
    assert bad_project.returncode == 2 and "project id" in bad_project.stderr


def test_tampered_key_with_valid_prefix_is_rejected(database_url: str) -> None:
    with postgres.connect(database_url) as conn:
        token = keys.create(conn, project_id="p", role="admin")
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert keys.authenticate(conn, tampered) is None
        assert keys.authenticate(conn, "not-a-key") is None
        assert keys.authenticate(conn, token) is not None

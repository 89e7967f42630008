"""The `dbaas` client commands against a real control plane (API, worker, reconcilers, sim).

Driven both as the user runs them (a subprocess, stdout not a terminal: plain progress lines)
and in-process through `services.client.main.main` (output captured by pytest), through a
whole life: create --wait, list, get, scale --wait, credentials, events, ops, delete --wait;
and through what goes wrong: refused input, unknown names, a bad key, an unreachable API, an
operation KubeDB fails, a --wait that runs out of time.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.client import main as client
from services.store import projects
from tests.api_harness import LiveApi
from tests.e2e.control_plane import REPO, Plane, control_plane
from tests.fixtures_sim import SimCluster

NAMESPACE = projects.namespace_for("acme")


@pytest.fixture
def plane(database_url: str, redis_url: str, sim: SimCluster, tmp_path: Path) -> Iterator[Plane]:
    with control_plane(database_url, redis_url, sim, tmp_path) as running:
        yield running


def client_env(plane: Plane, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in plane.env.items() if not k.startswith("DBAAS_")}
    return env | {
        "DBAAS_URL": plane.api.url,
        "DBAAS_API_KEY": plane.key,
        "DBAAS_PROFILE": str(tmp_path / "profile.json"),
        "DBAAS_HOME": str(tmp_path / "client-home"),
        **extra,
    }


def dbaas(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def on_a_terminal(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """`dbaas ...` with stderr on a pseudo-terminal (stdout captured)."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *argv],
            cwd=REPO,
            env=env | {"TERM": "xterm", "COLUMNS": "120"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=120,
        )
        os.close(terminal)
        terminal = -1
        drawn = b""
        while select.select([controller], [], [], 1)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode())  # colours, cursor moves
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, text)


def ok(env: dict[str, str], *argv: str) -> str:
    done = dbaas(env, *argv)
    assert done.returncode == 0, f"dbaas {' '.join(argv)}: {done.returncode}\n{done.stderr}"
    return done.stdout


def refused(env: dict[str, str], *argv: str, code: int = 1) -> list[str]:
    """The stderr lines of a command that must fail with `code` and say why in one line."""
    done = dbaas(env, *argv)
    assert done.returncode == code, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stderr.splitlines()
    assert lines, "no message on stderr"
    assert "Traceback" not in done.stderr, done.stderr
    return lines


def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> Any:
    for name, value in env.items():
        if name.startswith("DBAAS_"):
            monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, str, str]:
        code = client.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_database_life_through_the_cli(
    plane: Plane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = client_env(plane, tmp_path)

    engines = json.loads(ok(env, "engines", "-o", "json"))["items"]
    postgres = next(engine for engine in engines if engine["name"] == "postgres")
    assert "16.13" in [version["name"] for version in postgres["versions"]]
    assert "16.13" in ok(env, "engines")

    # Without --wait: the accepted operation, at once.
    queued = ok(env, "db", "create", "orders", "--engine", "postgres", "--storage", "1Gi")
    assert queued.startswith("orders: create pending (operation ")
    created = dbaas(
        env, "db", "create", "ledger", "--engine", "postgres", "--version", "16.13", "--wait",
        "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ledger = json.loads(created.stdout)
    assert ledger["state"] == "ready"
    assert ledger["status"]["observed_generation"] >= ledger["generation"]
    # Not a terminal: plain progress lines on stderr, the result alone on stdout.
    assert "ledger: create" in created.stderr
    assert "create succeeded" in created.stderr
    assert "ledger ready" in created.stderr

    table = ok(env, "db", "list").splitlines()
    assert table[0].split() == [
        "NAME", "ENGINE", "VERSION", "REPLICAS", "STORAGE", "STATE", "PHASE", "ID",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert set(rows) == {"orders", "ledger"}
    assert rows["ledger"][1:6] == ["postgres", "16.13", "1", "10Gi", "ready"]
    assert rows["ledger"][7] == ledger["id"]

    # Shell completion of a database name asks the API for the names.
    completion = env | {"_DBAAS_COMPLETE": "bash_complete", "COMP_WORDS": "dbaas db get le"}
    assert ok(completion | {"COMP_CWORD": "3"}).split() == ["plain,ledger"]

    by_name = yaml.safe_load(ok(env, "db", "get", "ledger", "-o", "yaml"))
    by_id = json.loads(ok(env, "db", "get", ledger["id"], "-o", "json"))
    assert by_name["id"] == by_id["id"] == ledger["id"]
    assert "phase:" in ok(env, "db", "get", "ledger")

    scaled = dbaas(env, "db", "scale", "ledger", "--replicas", "3", "--wait", "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    assert "scale succeeded" in scaled.stderr
    after = json.loads(scaled.stdout)
    assert after["replicas"] == 3 and after["status"]["observed"]["replicas"] == 3

    run = in_process(monkeypatch, capsys, env)
    code, out, err = run("db", "credentials", "ledger")
    assert code == 0, err
    assert out.strip() == f"postgresql://postgres:****@ledger.{NAMESPACE}.svc:5432"
    code, out, err = run("db", "credentials", "ledger", "--show-password", "-o", "json")
    assert code == 0, err
    secret = json.loads(out)
    assert secret["password"] not in ("", "****")
    assert f":{secret['password']}@" in secret["uri"] or "%" in secret["uri"]

    code, out, err = run("db", "events", "ledger", "-o", "json")
    assert code == 0, err
    kinds = [event["kind"] for event in json.loads(out)["items"]]
    assert kinds.count("credentials.read") == 2

    code, out, err = run("ops", "list", "--db", "ledger", "-o", "json")
    assert code == 0, err
    operations = json.loads(out)["items"]
    assert [(op["type"], op["state"]) for op in operations] == [
        ("create", "succeeded"),
        ("scale", "succeeded"),
    ]
    code, out, err = run("ops", "get", operations[1]["id"])
    assert code == 0, err
    assert "scale" in out and "succeeded" in out and "replicas=3" in out
    code, out, err = run("ops", "wait", operations[0]["id"], "-o", "json")
    assert code == 0, err
    assert json.loads(out)["state"] == "succeeded"
    code, out, err = run("ops", "cancel", operations[0]["id"])
    assert code == 1
    assert err.startswith("dbaas: error: ") and "(409 operation-not-cancellable)" in err
    code, out, err = run("ops", "list")
    assert code == 0, err
    assert len(out.splitlines()) == 2 + 3  # header, rule, and the three operations

    # On a terminal, --wait draws a rich spinner on stderr and ends with a tick per step.
    spinner = on_a_terminal(env, "db", "restart", "ledger", "--wait")
    assert spinner.returncode == 0, spinner.stderr
    assert "✓ restart succeeded" in spinner.stderr and "✓ ledger ready" in spinner.stderr
    assert "phase:" in spinner.stdout  # the result still goes to stdout

    deleted = dbaas(env, "db", "delete", "ledger", "--wait")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted" in deleted.stderr
    assert plane.get(f"/v1/databases/{ledger['id']}") is None
    lines = refused(env, "db", "get", "ledger")
    assert lines == ["dbaas: error: no database named 'ledger' in this project"]
    assert [line.split()[0] for line in ok(env, "db", "list").splitlines()[2:]] == ["orders"]


def test_bad_input_and_failures_are_one_clear_line_and_a_non_zero_exit(
    plane: Plane, sim: SimCluster, tmp_path: Path
) -> None:
    env = client_env(plane, tmp_path)

    lines = refused(env, "db", "create", "Bad_Name", "--engine", "postgres", "--replicas", "0")
    assert lines[0].startswith("dbaas: error: ") and lines[0].endswith("(422 validation-failed)")
    fields = [line.split(":")[0].strip() for line in lines[1:]]
    assert "name" in fields and "replicas" in fields

    lines = refused(env, "db", "create", "pg", "--engine", "postgres", "--version", "16")
    assert lines[0].endswith("(422 validation-failed)")
    assert lines[1].startswith("  version: ")

    lines = refused(env, "db", "scale", "nope", "--replicas", "2")
    assert lines == ["dbaas: error: no database named 'nope' in this project"]
    lines = refused(env, "db", "scale", "nope", "--replicas", "many", code=2)
    assert "'many' is not a valid integer" in lines[-1]
    lines = refused(env, "db", "list", "-o", "xml", code=2)
    assert "'xml' is not one of" in lines[-1]
    lines = refused(env, "db", "resize", "nope", code=2)
    assert "say what to resize" in lines[-1]

    lines = refused(client_env(plane, tmp_path, DBAAS_API_KEY="dbaas_nope_nope"), "db", "list")
    assert len(lines) == 1 and "(401 unauthorized)" in lines[0]
    assert "DBAAS_API_KEY" in lines[0]
    lines = refused(client_env(plane, tmp_path, DBAAS_URL="http://127.0.0.1:9"), "db", "list")
    assert len(lines) == 1 and lines[0].startswith("dbaas: error: cannot reach the API at")

    ok(env, "db", "create", "shop", "--engine", "postgres", "--version", "16.13", "--wait")
    sim.fail_next_ops("NodeQuotaExceeded", database=f"{NAMESPACE}/shop")
    lines = refused(env, "db", "scale", "shop", "--replicas", "3", "--wait")
    assert any(
        line.startswith("dbaas: error: operation scale ") and " failed: " in line for line in lines
    ), lines

    sim.hang_next_ops(database=f"{NAMESPACE}/shop")
    lines = refused(env, "db", "restart", "shop", "--wait", "--timeout", "1", code=3)
    assert lines[-1].startswith("dbaas: error: timed out after 1s waiting for operation restart")
    assert "dbaas ops wait " in lines[-1]


def test_login_writes_a_private_profile_the_other_commands_use(
    offline_api: LiveApi, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBAAS_")}
    env |= {"DBAAS_PROFILE": str(tmp_path / "config" / "profile.json")}
    key = offline_api.key(project="acme")
    lines = refused(env, "login", "--url", offline_api.url, "--api-key", "dbaas_nope_nope")
    assert "(401 unauthorized)" in lines[0]
    profile = Path(env["DBAAS_PROFILE"])
    assert not profile.exists()
    out = ok(env, "login", "--url", offline_api.url, "--api-key", key)
    assert str(profile) in out
    assert profile.stat().st_mode & 0o777 == 0o600
    assert json.loads(profile.read_text()) == {"url": offline_api.url, "api_key": key}
    assert ok(env, "db", "list", "-o", "json") == '{\n  "items": []\n}\n'
    profile.write_text("{not json")
    lines = refused(env, "db", "list", code=2)
    assert lines[0].startswith(f"dbaas: error: the profile {profile} is not JSON")


def test_completion_scripts_complete_the_client_commands(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "DBAAS_PROFILE": str(tmp_path / "p.json")}
    assert "_dbaas_completion" in ok(env, "completion", "bash")
    assert "#compdef dbaas" in ok(env, "completion", "zsh")
    completed = subprocess.run(
        [sys.executable, "-m", "services.cli"],
        env=env
        | {"_DBAAS_COMPLETE": "bash_complete", "COMP_WORDS": "dbaas db sc", "COMP_CWORD": "2"},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert completed.stdout.split() == ["plain,scale"]

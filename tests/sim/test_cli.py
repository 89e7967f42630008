"""`dbaas sim`: serving (ready line, kubeconfig, clean stop) and steering a running server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures_sim import REPO, SimCluster, start_server, stop_server
from tests.sim.kube import NS, Kube, expect_error, postgres


def _dbaas(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "sim", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_faults_are_set_and_cleared_from_the_command_line(sim: SimCluster, kube: Kube) -> None:
    document = _dbaas(
        "faults",
        "--server",
        sim.url,
        "--error-rate",
        "1",
        "--error-codes",
        "503",
        "--verbs",
        "create",
        "--resources",
        "postgreses",
        "--seed",
        "7",
    )
    assert document["errors"][0]["codes"] == [503]
    assert document["seed"] == 7
    expect_error(503, kube.create_db, postgres("orders"))
    assert _dbaas("faults", "--server", sim.url, "--clear")["errors"] == []
    kube.create_db(postgres("orders"))


def test_the_server_is_found_through_the_kubeconfig(sim: SimCluster, kube: Kube) -> None:
    kube.create_db(postgres("orders"))
    stats = _dbaas("stats", "--kubeconfig", str(sim.kubeconfig))
    assert stats["requests"]["create"]["postgreses"] == 1


def test_phase_edit_and_ops_faults_from_the_command_line(sim: SimCluster, kube: Kube) -> None:
    kube.ready_db(postgres("orders"))
    critical = _dbaas("--server", sim.url, "phase", "postgreses", f"{NS}/orders", "Critical")
    assert critical["status"]["phase"] == "Critical"
    edited = _dbaas(
        "edit", "postgreses", f"{NS}/orders", '{"spec": {"replicas": 2}}', "--server", sim.url
    )
    assert edited["spec"]["replicas"] == 2
    ops = _dbaas(
        "faults", "--server", sim.url, "--fail-next-ops", "boom", "--ops-database", f"{NS}/orders"
    )
    assert ops["ops"] == [
        {"mode": "fail", "reason": "boom", "database": f"{NS}/orders", "count": 1}
    ]
    assert _dbaas("compact", "--server", sim.url)["watches_dropped"] == 0


def test_serving_without_crds_says_so_and_stops_cleanly_on_sigterm(
    tmp_path: Path, crd_cache: Path
) -> None:
    cache = crd_cache
    server = start_server(tmp_path, cache, "--no-crds")
    try:
        log = server.log.read_text()
        assert "schema validation OFF" in log
        assert f"kubeconfig written to {server.kubeconfig}" in log
        config = yaml.safe_load(server.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == server.url
        assert server.kubeconfig.stat().st_mode & 0o777 == 0o600
        sim = SimCluster(server)
        kube = Kube(sim)
        body = postgres("loose")
        body["spec"]["deletionPolicy"] = "Whenever"  # would be 422 with the CRDs
        assert kube.create_db(body, namespace="default")["spec"]["deletionPolicy"] == "Whenever"
        sim.close()
    finally:
        code = stop_server(server)
    assert code == 0
    assert "dbaas sim: stopped" in server.log.read_text()

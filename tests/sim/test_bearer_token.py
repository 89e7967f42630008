"""`dbaas sim --require-token`: the Kubernetes API needs the kubeconfig's bearer token, and a
sim without it says in its ready line (and a line of its own) that it runs open."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from tests.fixtures_sim import SimServer, start_server, stop_server


def ready_line(server: SimServer) -> str:
    return next(
        line for line in server.log.read_text().splitlines() if line.startswith("dbaas sim: ready")
    )


def test_a_sim_requiring_a_token_refuses_requests_without_the_kubeconfig_s(
    tmp_path: Path,
) -> None:
    (tmp_path / "sim").mkdir()
    server = start_server(tmp_path / "sim", tmp_path / "cache", "--require-token")
    try:
        config = yaml.safe_load(server.kubeconfig.read_text())
        token = config["users"][0]["user"]["token"]
        with k8s_config.new_client_from_config(config_file=str(server.kubeconfig)) as api:
            names = [ns.metadata.name for ns in k8s_client.CoreV1Api(api).list_namespace().items]
        anonymous = httpx.get(f"{server.url}/api/v1/namespaces/default/secrets")
        forged = httpx.get(
            f"{server.url}/api/v1/secrets", headers={"Authorization": "Bearer dbaas-sim-token"}
        )
        kubedb = httpx.get(f"{server.url}/apis/kubedb.com/v1/postgreses")
        allowed = httpx.get(
            f"{server.url}/api/v1/namespaces", headers={"Authorization": f"Bearer {token}"}
        )
        version = httpx.get(f"{server.url}/version")
    finally:
        stop_server(server)
    assert "default" in names
    for refused in (anonymous, forged, kubedb):
        assert refused.status_code == 401
        assert refused.json()["reason"] == "Unauthorized"
    assert allowed.status_code == 200
    assert version.status_code == 200
    assert len(token) >= 40 and token != "dbaas-sim-token"
    assert ready_line(server).endswith(" access=token")


def test_a_sim_without_a_token_says_it_runs_open(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    server = start_server(tmp_path / "sim", tmp_path / "cache")
    try:
        anonymous = httpx.get(f"{server.url}/api/v1/namespaces")
    finally:
        stop_server(server)
    assert anonymous.status_code == 200
    assert ready_line(server).endswith(" access=open")
    assert "dbaas sim: running OPEN" in server.log.read_text()
